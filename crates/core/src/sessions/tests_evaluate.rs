use serde_json::{Value, json};

use super::tests_statement::{inst, ts};
use super::*;

/// The statements as AWS would hold them: rendered into the policy text and read back.
fn written(customer: &[Value], ours: Vec<GuardStatement>) -> Vec<Value> {
    let text = json!({"Version": "2012-10-17", "Statement": customer}).to_string();
    let policy = InlinePolicy::parse(&text, &inst("prod1")).unwrap();
    let rendered = policy.with_ours(ours).render().unwrap();
    let doc: Value = serde_json::from_str(&rendered).unwrap();
    doc["Statement"].as_array().unwrap().clone()
}

/// (user, token issued at, now, expected)
type Row = (&'static str, &'static str, &'static str, Access);

fn check(statements: &[Value], rows: &[Row]) {
    for &(user, issued, now, want) in rows {
        let got = evaluate(statements, user, ts(issued), ts(now));
        assert_eq!(got, want, "{user} issued {issued} at {now}");
    }
}

use Access::{Allow, Deny};

#[test]
fn an_expiry_denies_from_the_second_after() {
    let exp = GuardStatement::new("u1", Denial::After(ts("2026-12-02T19:00:00Z")));
    check(
        &written(&[], vec![exp]),
        &[
            ("u2", "2026-12-02T18:00:00Z", "2026-12-02T20:00:00Z", Allow),
            ("u1", "2026-12-02T18:00:00Z", "2026-12-02T18:59:59Z", Allow),
            ("u1", "2026-12-02T18:00:00Z", "2026-12-02T19:00:00Z", Allow),
            (
                "u1",
                "2026-12-02T18:00:00Z",
                "2026-12-02T19:00:00.001Z",
                Deny,
            ),
            ("u1", "2026-12-02T18:00:00Z", "2026-12-02T20:00:00Z", Deny),
            // Sessions issued after the expiry are denied too.
            ("u1", "2026-12-02T19:30:00Z", "2026-12-02T19:30:01Z", Deny),
        ],
    );
}

#[test]
fn an_expiry_within_a_second_denies_early_never_late() {
    let exp = GuardStatement::new("u1", Denial::After(ts("2026-12-02T19:00:00.7Z")));
    check(
        &written(&[], vec![exp]),
        &[
            (
                "u1",
                "2026-12-02T18:00:00Z",
                "2026-12-02T18:59:59.9Z",
                Allow,
            ),
            ("u1", "2026-12-02T18:00:00Z", "2026-12-02T19:00:00.5Z", Deny),
            ("u1", "2026-12-02T18:00:00Z", "2026-12-02T19:00:00.8Z", Deny),
        ],
    );
}

#[test]
fn a_cut_denies_sessions_issued_before_it() {
    let cut = GuardStatement::new("u1", Denial::IssuedBefore(ts("2026-12-02T18:00:00Z")));
    check(
        &written(&[], vec![cut]),
        &[
            ("u2", "2026-12-02T17:00:00Z", "2026-12-02T18:30:00Z", Allow),
            ("u1", "2026-12-02T17:59:59Z", "2026-12-02T18:00:01Z", Deny),
            // Whatever now is: even a clock before the cut.
            ("u1", "2026-12-02T17:00:00Z", "2026-12-02T17:00:01Z", Deny),
            (
                "u1",
                "2026-12-02T17:59:59.999Z",
                "2026-12-03T05:00:00Z",
                Deny,
            ),
            ("u1", "2026-12-02T18:00:00Z", "2026-12-02T18:00:01Z", Allow),
            ("u1", "2026-12-02T18:00:01Z", "2026-12-02T18:30:00Z", Allow),
        ],
    );
}

#[test]
fn a_cut_within_a_second_catches_that_second() {
    let cut = GuardStatement::new("u1", Denial::IssuedBefore(ts("2026-12-02T18:00:00.3Z")));
    check(
        &written(&[], vec![cut]),
        &[
            ("u1", "2026-12-02T18:00:00.9Z", "2026-12-02T18:00:02Z", Deny),
            ("u1", "2026-12-02T18:00:01Z", "2026-12-02T18:00:02Z", Allow),
        ],
    );
}

#[test]
fn a_cut_and_a_new_grant_expiry_together() {
    let ours = vec![
        GuardStatement::new("u1", Denial::IssuedBefore(ts("2026-12-02T18:00:00Z"))),
        GuardStatement::new("u1", Denial::After(ts("2026-12-02T22:00:00Z"))),
    ];
    let customer = json!({"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"});
    check(
        &written(&[customer], ours),
        &[
            ("u1", "2026-12-02T17:00:00Z", "2026-12-02T19:00:00Z", Deny),
            ("u1", "2026-12-02T19:00:00Z", "2026-12-02T20:00:00Z", Allow),
            ("u1", "2026-12-02T19:00:00Z", "2026-12-02T22:00:01Z", Deny),
            ("u2", "2026-12-02T17:00:00Z", "2026-12-02T23:00:00Z", Allow),
        ],
    );
}

#[test]
fn the_evaluator_knows_only_what_it_names() {
    let now = ts("2026-12-02T20:00:00Z");
    let issued = ts("2026-12-02T17:00:00Z");
    let deny =
        |cond: Value| json!({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": cond});
    let eval = |s: Value| evaluate(&[s], "u1", issued, now);
    // Any of an array of values.
    assert_eq!(
        eval(deny(
            json!({"StringEquals": {"identitystore:userId": ["u0", "u1"]}})
        )),
        Deny
    );
    assert_eq!(
        eval(deny(json!({"StringEquals": {"identitystore:userId": []}}))),
        Allow
    );
    // Every condition must hold.
    let both = json!({
        "StringEquals": {"identitystore:userId": "u1"},
        "DateLessThan": {"aws:TokenIssueTime": "2026-12-02T16:00:00Z"},
    });
    assert_eq!(eval(deny(both)), Allow);
    // Unknown operators, keys, values and elements: the statement does not apply.
    for cond in [
        json!({"StringLike": {"identitystore:userId": "u*"}}),
        json!({"StringEquals": {"aws:username": "u1"}}),
        json!({"StringEquals": {"aws:CurrentTime": "2026-12-02T20:00:00Z"}}),
        json!({"DateGreaterThan": {"identitystore:userId": "2026-12-02T20:00:00Z"}}),
        json!({"DateGreaterThan": {"aws:CurrentTime": 1700000000}}),
        json!({"DateGreaterThan": {"aws:CurrentTime": "yesterday"}}),
    ] {
        assert_eq!(eval(deny(cond.clone())), Allow, "{cond}");
    }
    let mut not_action = deny(json!({}));
    not_action.as_object_mut().unwrap().remove("Action");
    not_action["NotAction"] = json!("s3:*");
    assert_eq!(eval(not_action), Allow);
    assert_eq!(
        eval(json!({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})),
        Allow
    );
    assert_eq!(
        eval(json!({"Effect": "Allow", "Action": "*", "Resource": "*"})),
        Allow
    );
    // A customer's unconditional deny of everything denies everyone.
    assert_eq!(
        eval(json!({"Effect": "Deny", "Action": ["*"], "Resource": "*"})),
        Deny
    );
    assert_eq!(evaluate(&[], "u1", issued, now), Allow);
}
