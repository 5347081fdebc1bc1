use jiff::Timestamp;
use regex::Regex;
use serde_json::json;

use super::*;

pub(super) fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub(super) fn inst(id: &str) -> Installation {
    Installation::new(id).unwrap()
}

pub(super) const USER: &str = "9067162a2e-1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901";

#[test]
fn an_installation_id_is_1_to_16_ascii_letters_or_digits() {
    for ok in ["a", "prod1", "ABCDEFGHijklmn16"] {
        assert_eq!(inst(ok).as_str(), ok);
    }
    for bad in ["", "ABCDEFGHijklmn167", "a-b", "prod_1", "é"] {
        let err = Installation::new(bad).unwrap_err();
        assert!(
            matches!(err, SessionsError::Installation { ref id, .. } if id == bad),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(inst("prod1").prefix(), "BreakGlassprod1");
}

#[test]
fn a_derived_installation_id_is_8_lowercase_hex_of_the_seed() {
    let id = Installation::derive("7c1e-cluster-uid/breakglass-system");
    assert_eq!(id.as_str().len(), 8);
    assert!(
        id.as_str()
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    );
    assert_eq!(
        id,
        Installation::derive("7c1e-cluster-uid/breakglass-system")
    );
    assert_ne!(id, Installation::derive("7c1e-cluster-uid/other"));
    // SHA-256("abc") starts ba7816bf.
    assert_eq!(Installation::derive("abc").as_str(), "ba7816bf");
    assert!(Installation::new(id.as_str()).is_ok());
}

#[test]
fn statements_are_written_as_the_brief_shows() {
    let exp = GuardStatement::new(USER, Denial::After(ts("2026-12-02T19:00:00Z")));
    let cut = GuardStatement::new(USER, Denial::IssuedBefore(ts("2026-12-02T18:00:00Z")));
    let i = inst("prod1");
    assert_eq!(
        exp.sid(&i),
        "BreakGlassprod1Exp9067162a2e1b2c3d4e5f60718293a4b5c6d7e8f901"
    );
    assert_eq!(
        cut.sid(&i),
        "BreakGlassprod1Cut9067162a2e1b2c3d4e5f60718293a4b5c6d7e8f901"
    );
    let valid = Regex::new("^[A-Za-z0-9]+$").unwrap();
    assert!(valid.is_match(&exp.sid(&i)) && valid.is_match(&cut.sid(&i)));
    assert_eq!(
        exp.to_json(&i),
        json!({
            "Sid": exp.sid(&i), "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {
                "StringEquals": {"identitystore:userId": USER},
                "DateGreaterThan": {"aws:CurrentTime": "2026-12-02T19:00:00Z"},
            },
        })
    );
    assert_eq!(
        cut.to_json(&i),
        json!({
            "Sid": cut.sid(&i), "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {
                "StringEquals": {"identitystore:userId": USER},
                "DateLessThan": {"aws:TokenIssueTime": "2026-12-02T18:00:00Z"},
            },
        })
    );
}

#[test]
fn a_statement_reads_back_as_written() {
    let i = inst("prod1");
    for denial in [
        Denial::After(ts("2026-12-02T19:00:00Z")),
        Denial::IssuedBefore(ts("2026-12-02T18:00:00Z")),
    ] {
        let s = GuardStatement::new(USER, denial);
        let read = GuardStatement::from_json(&s.to_json(&i), &i);
        assert_eq!(read.unwrap().unwrap(), s);
    }
}

#[test]
fn times_go_to_the_second_expiry_down_and_cut_up() {
    let i = inst("prod1");
    let at = ts("2026-12-02T19:00:00.7Z");
    let exp = GuardStatement::new(USER, Denial::After(at));
    let cut = GuardStatement::new(USER, Denial::IssuedBefore(at));
    assert_eq!(
        exp.to_json(&i)["Condition"]["DateGreaterThan"]["aws:CurrentTime"],
        "2026-12-02T19:00:00Z"
    );
    assert_eq!(
        cut.to_json(&i)["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
        "2026-12-02T19:00:01Z"
    );
    let back = |s: &GuardStatement| GuardStatement::from_json(&s.to_json(&i), &i);
    assert_eq!(back(&exp).unwrap().unwrap().denial, exp.denial.normalized());
    assert_eq!(
        back(&cut).unwrap().unwrap().denial,
        Denial::IssuedBefore(ts("2026-12-02T19:00:01Z"))
    );
    // A whole second stays as it is either way.
    let whole = ts("2026-12-02T19:00:00Z");
    assert_eq!(Denial::IssuedBefore(whole).at(), whole);
    assert_eq!(Denial::After(whole).at(), whole);
}

#[test]
fn statements_of_others_are_not_ours() {
    let i = inst("prod1");
    let s = GuardStatement::new(USER, Denial::After(ts("2026-12-02T19:00:00Z")));
    assert!(GuardStatement::from_json(&s.to_json(&inst("prod2")), &i).is_none());
    assert!(GuardStatement::from_json(&s.to_json(&inst("prod")), &i).is_none());
    for other in [
        json!({"Sid": "AllowS3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
        json!({"Effect": "Deny", "Action": "*", "Resource": "*"}),
        json!({"Sid": 7}),
        json!({"Sid": "BreakGlassprod1Other"}),
        json!("not a statement"),
    ] {
        assert!(GuardStatement::from_json(&other, &i).is_none(), "{other}");
    }
}

#[test]
fn an_installation_whose_id_extends_ours_keeps_its_statements() {
    // "ab" and "abExp" both prefix "BreakGlassabExp...": the Sid, read against the body,
    // tells them apart.
    let (ab, ab_exp, ab_cut) = (inst("ab"), inst("abExp"), inst("abCut"));
    for denial in [
        Denial::After(ts("2026-12-02T19:00:00Z")),
        Denial::IssuedBefore(ts("2026-12-02T18:00:00Z")),
    ] {
        let s = GuardStatement::new(USER, denial);
        assert!(GuardStatement::from_json(&s.to_json(&ab_exp), &ab).is_none());
        assert!(GuardStatement::from_json(&s.to_json(&ab_cut), &ab).is_none());
        assert_eq!(
            GuardStatement::from_json(&s.to_json(&ab), &ab)
                .unwrap()
                .unwrap(),
            s
        );
    }
}

#[test]
fn an_own_sid_on_a_malformed_body_is_an_error() {
    let i = inst("prod1");
    let s = GuardStatement::new(USER, Denial::After(ts("2026-12-02T19:00:00Z")));
    let good = s.to_json(&i);
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 8] = [
        ("allow", |v| v["Effect"] = json!("Allow")),
        ("one action", |v| v["Action"] = json!("s3:GetObject")),
        ("no condition", |v| {
            v.as_object_mut().unwrap().remove("Condition");
        }),
        ("fractional time", |v| {
            v["Condition"]["DateGreaterThan"]["aws:CurrentTime"] = json!("2026-12-02T19:00:00.5Z")
        }),
        ("offset time", |v| {
            v["Condition"]["DateGreaterThan"]["aws:CurrentTime"] =
                json!("2026-12-02T20:00:00+01:00")
        }),
        ("not a time", |v| {
            v["Condition"]["DateGreaterThan"]["aws:CurrentTime"] = json!("tomorrow")
        }),
        ("cut body under an Exp sid", |v| {
            let t = v["Condition"]["DateGreaterThan"]["aws:CurrentTime"].take();
            let c = v["Condition"].as_object_mut().unwrap();
            c.remove("DateGreaterThan");
            c.insert("DateLessThan".into(), json!({"aws:TokenIssueTime": t}));
        }),
        ("another user", |v| {
            v["Condition"]["StringEquals"]["identitystore:userId"] = json!("someone-else")
        }),
    ];
    for (what, edit) in edits {
        let mut v = good.clone();
        edit(&mut v);
        let err = GuardStatement::from_json(&v, &i).unwrap().unwrap_err();
        assert!(
            matches!(&err, SessionsError::Malformed { sid, .. } if *sid == s.sid(&i)),
            "{what}: {err}"
        );
    }
}
