use serde_json::{Value, json};

use super::tests_statement::{USER, inst, ts};
use super::*;

/// A customer statement with its own condition, keys in an odd order and odd spacing.
const CUSTOMER: &str = r#"{"Resource":["arn:aws:s3:::logs/*"] ,"Condition":{"Bool":{"aws:SecureTransport":"false"}},"Action":["s3:GetObject","s3:PutObject"],"Effect":"Deny","Sid":"DenyInsecureLogs"}"#;

fn other_installation() -> Value {
    GuardStatement::new(USER, Denial::After(ts("2026-12-02T20:00:00Z"))).to_json(&inst("prod2"))
}

fn exp(user: &str, at: &str) -> GuardStatement {
    GuardStatement::new(user, Denial::After(ts(at)))
}

fn cut(user: &str, at: &str) -> GuardStatement {
    GuardStatement::new(user, Denial::IssuedBefore(ts(at)))
}

fn statements(text: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(text).unwrap();
    doc["Statement"].as_array().unwrap().clone()
}

#[test]
fn everyone_elses_statements_and_keys_are_kept_exactly() {
    let i = inst("prod1");
    let ours = exp(USER, "2026-12-02T19:00:00Z");
    let text = format!(
        r#"{{"Id":"team-policy","Statement":[{CUSTOMER},{},{}],"Version":"2012-10-17"}}"#,
        ours.to_json(&i),
        other_installation()
    );
    let policy = InlinePolicy::parse(&text, &i).unwrap();
    assert_eq!(policy.ours(), [ours]);
    assert!(policy.malformed().is_empty());

    let next = cut(USER, "2026-12-02T18:00:00Z");
    let rendered = policy.with_ours(vec![next.clone()]).render().unwrap();
    let customer: Value = serde_json::from_str(CUSTOMER).unwrap();
    // Ours go after the others, which keep their order and their every value.
    assert_eq!(
        statements(&rendered),
        [customer.clone(), other_installation(), next.to_json(&i)]
    );
    let doc: Value = serde_json::from_str(&rendered).unwrap();
    assert_eq!(doc["Id"], "team-policy");
    assert_eq!(doc["Version"], "2012-10-17");
    // Rendering the same document again gives the same text, and reads back the same.
    let again = InlinePolicy::parse(&rendered, &i).unwrap();
    assert_eq!(again.ours(), [next]);
    assert_eq!(again.render().unwrap(), rendered);
}

#[test]
fn the_text_is_compact_version_first_statement_last() {
    let i = inst("prod1");
    let rendered = InlinePolicy::parse("", &i)
        .unwrap()
        .with_ours(vec![exp("u-1", "2026-12-02T19:00:00Z")])
        .render()
        .unwrap();
    assert_eq!(
        rendered,
        r#"{"Version":"2012-10-17","Statement":[{"Action":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2026-12-02T19:00:00Z"},"StringEquals":{"identitystore:userId":"u-1"}},"Effect":"Deny","Resource":"*","Sid":"BreakGlassprod1Expu1"}]}"#
    );
    let with_id = InlinePolicy::parse(r#"{"Version":"2008-10-17","Id":"x"}"#, &i)
        .unwrap()
        .with_ours(vec![exp("u-1", "2026-12-02T19:00:00Z")])
        .render()
        .unwrap();
    assert!(
        with_id.starts_with(r#"{"Version":"2008-10-17","Id":"x","Statement":[{"#),
        "{with_id}"
    );
}

#[test]
fn a_single_statement_object_is_read() {
    let i = inst("prod1");
    let ours = exp(USER, "2026-12-02T19:00:00Z");
    let one = format!(
        r#"{{"Version":"2012-10-17","Statement":{}}}"#,
        ours.to_json(&i)
    );
    let policy = InlinePolicy::parse(&one, &i).unwrap();
    assert_eq!(policy.ours(), std::slice::from_ref(&ours));
    assert_eq!(statements(&policy.render().unwrap()), [ours.to_json(&i)]);

    let theirs = format!(r#"{{"Version":"2012-10-17","Statement":{CUSTOMER}}}"#);
    let policy = InlinePolicy::parse(&theirs, &i).unwrap();
    assert!(policy.ours().is_empty());
    let customer: Value = serde_json::from_str(CUSTOMER).unwrap();
    assert_eq!(statements(&policy.render().unwrap()), [customer]);
}

#[test]
fn empty_text_is_an_empty_document() {
    let i = inst("prod1");
    for text in ["", "  \n\t"] {
        let policy = InlinePolicy::parse(text, &i).unwrap();
        assert!(policy.ours().is_empty());
        assert_eq!(policy.render(), None);
        assert!(policy.fits());
        let ours = cut(USER, "2026-12-02T18:00:00Z");
        let rendered = policy.with_ours(vec![ours.clone()]).render().unwrap();
        let doc: Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(
            doc,
            json!({"Version": "2012-10-17", "Statement": [ours.to_json(&i)]})
        );
    }
}

#[test]
fn render_is_none_when_no_statement_is_left() {
    let i = inst("prod1");
    let ours = exp(USER, "2026-12-02T19:00:00Z").to_json(&i);
    let only_ours = format!(r#"{{"Version":"2012-10-17","Statement":[{ours}]}}"#);
    let policy = InlinePolicy::parse(&only_ours, &i).unwrap();
    assert_eq!(policy.with_ours(vec![]).render(), None);
    assert_eq!(
        InlinePolicy::parse(r#"{"Version":"2012-10-17","Statement":[]}"#, &i)
            .unwrap()
            .render(),
        None
    );
    // Other content is the customer's: kept, even without a statement.
    let with_id = format!(r#"{{"Id":"x","Statement":[{ours}]}}"#);
    let rendered = InlinePolicy::parse(&with_id, &i)
        .unwrap()
        .with_ours(vec![])
        .render()
        .unwrap();
    assert_eq!(
        rendered,
        r#"{"Version":"2012-10-17","Id":"x","Statement":[]}"#
    );
}

#[test]
fn a_malformed_own_statement_is_dropped_and_rewritten() {
    let i = inst("prod1");
    let mut bad = exp(USER, "2026-12-02T19:00:00Z").to_json(&i);
    bad["Effect"] = json!("Allow");
    let sid = bad["Sid"].as_str().unwrap().to_owned();
    let text = format!(r#"{{"Version":"2012-10-17","Statement":[{CUSTOMER},{bad}]}}"#);
    let policy = InlinePolicy::parse(&text, &i).unwrap();
    assert!(policy.ours().is_empty());
    assert_eq!(policy.malformed(), [sid]);
    let customer: Value = serde_json::from_str(CUSTOMER).unwrap();
    assert_eq!(
        statements(&policy.render().unwrap()),
        std::slice::from_ref(&customer)
    );
    let good = exp(USER, "2026-12-02T19:00:00Z");
    let rewritten = policy.with_ours(vec![good.clone()]);
    assert!(rewritten.malformed().is_empty());
    assert_eq!(
        statements(&rewritten.render().unwrap()),
        [customer, good.to_json(&i)]
    );
}

#[test]
fn what_is_not_a_policy_is_an_error() {
    let i = inst("prod1");
    let err = InlinePolicy::parse("{\"Version\":", &i).unwrap_err();
    assert!(matches!(err, SessionsError::Json { .. }), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    for (text, want) in [
        ("[]", "not a JSON object"),
        (r#"{"Statement":5}"#, "neither"),
    ] {
        let err = InlinePolicy::parse(text, &i).unwrap_err();
        assert!(err.to_string().contains(want), "{text}: {err}");
    }
}

#[test]
fn ours_are_sorted_by_sid() {
    let i = inst("prod1");
    let (a_exp, a_cut) = (
        exp("a", "2026-12-02T19:00:00Z"),
        cut("a", "2026-12-02T18:00:00Z"),
    );
    let (b_exp, b_cut) = (
        exp("b", "2026-12-02T19:00:00Z"),
        cut("b", "2026-12-02T18:00:00Z"),
    );
    let policy = InlinePolicy::parse("", &i).unwrap().with_ours(vec![
        b_exp.clone(),
        a_exp.clone(),
        b_cut.clone(),
        a_cut.clone(),
        a_exp.clone(),
    ]);
    assert_eq!(policy.ours(), [a_cut, b_cut, a_exp, b_exp]);
    let sids: Vec<String> = statements(&policy.render().unwrap())
        .iter()
        .map(|s| s["Sid"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = sids.clone();
    sorted.sort();
    assert_eq!(sids, sorted);
}

#[test]
fn a_document_over_the_size_limit_does_not_fit() {
    let i = inst("prod1");
    let users = |n: usize| -> Vec<GuardStatement> {
        (0..n)
            .map(|k| exp(&format!("{USER}{k:04}"), "2026-12-02T19:00:00Z"))
            .collect()
    };
    let empty = InlinePolicy::parse("", &i).unwrap();
    let few = empty.with_ours(users(10));
    assert!(few.fits());
    let many = empty.with_ours(users(200));
    assert!(many.render().unwrap().len() > MAX_INLINE_POLICY_BYTES);
    assert!(!many.fits());
    // The limit itself fits.
    let mut n = 10;
    while empty.with_ours(users(n + 1)).fits() {
        n += 1;
    }
    let at_limit = empty.with_ours(users(n)).render().unwrap().len();
    assert!(at_limit <= MAX_INLINE_POLICY_BYTES);
    assert!(empty.with_ours(users(n + 1)).render().unwrap().len() > MAX_INLINE_POLICY_BYTES);
}
