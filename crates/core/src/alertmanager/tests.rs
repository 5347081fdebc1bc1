//! Parsing, matching and mapping on payloads from `tests/fixtures/alertmanager/`.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn body(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/alertmanager/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn payload(name: &str) -> Payload {
    parse(&body(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn policy(name: &str, alerts: serde_json::Value) -> NamedPolicy {
    let spec = serde_json::from_value(json!({
        "duration": {"default": "1h", "max": "4h"},
        "aws": {"identityStoreId": "d-1234567890", "roleArn": "arn:aws:iam::111111111111:role/bg"},
        "access": {"groupMembership": {"groupName": "g"}},
        "alerts": alerts,
    }))
    .expect("policy");
    NamedPolicy {
        name: name.into(),
        spec,
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn prod_admin() -> NamedPolicy {
    policy(
        "prod-admin",
        json!([{
            "matchers": ["alertname=\"HighErrorRate\"", "severity=~\"critical|page\""],
            "userLabel": "breakglass_user",
            "namespace": "incidents",
            "duration": "2h",
        }]),
    )
}

#[test]
fn payloads_parse_and_bad_ones_are_refused() {
    assert_eq!(payload("firing.json").alerts.len(), 1);
    assert_eq!(payload("mixed.json").alerts.len(), 3);
    assert_eq!(payload("truncated.json").truncated_alerts, 3);
    assert_eq!(
        payload("unknown-fields.json").alerts,
        payload("firing.json").alerts
    );
    assert!(matches!(
        parse(&body("malformed.json")),
        Err(PayloadError::Malformed(_))
    ));
    assert_eq!(
        parse(&body("wrong-version.json")),
        Err(PayloadError::Version("5".into()))
    );
    let mut many: serde_json::Value = serde_json::from_slice(&body("firing.json")).expect("json");
    let alert = many["alerts"][0].clone();
    many["alerts"] = json!(vec![alert; MAX_ALERTS + 1]);
    assert_eq!(
        parse(many.to_string().as_bytes()),
        Err(PayloadError::TooManyAlerts(MAX_ALERTS + 1))
    );
    assert!(matches!(parse(b"[]"), Err(PayloadError::Malformed(_))));
    let no_fingerprint = String::from_utf8(body("firing.json"))
        .expect("utf8")
        .replace("c6b4d2a1f0e9d8c7", "");
    assert!(matches!(
        parse(no_fingerprint.as_bytes()),
        Err(PayloadError::Malformed(_))
    ));
}

#[test]
fn matchers_follow_alertmanager_semantics() {
    let l = labels(&[("alertname", "HighErrorRate"), ("severity", "critical")]);
    let m = |s: &str| Matcher::parse(s).unwrap_or_else(|e| panic!("{e}"));
    assert!(m(r#"alertname="HighErrorRate""#).matches(&l));
    assert!(m("alertname = HighErrorRate").matches(&l));
    assert!(!m(r#"alertname!="HighErrorRate""#).matches(&l));
    assert!(m(r#"severity=~"critical|page""#).matches(&l));
    assert!(
        !m(r#"severity=~"crit""#).matches(&l),
        "regexes are anchored"
    );
    assert!(m(r#"severity!~"warn.*""#).matches(&l));
    assert!(
        m(r#"team="""#).matches(&l),
        "a missing label is the empty string"
    );
    assert!(m(r#"team!~".+""#).matches(&l));
    assert!(m(r#"x="a\"b""#).matches(&labels(&[("x", "a\"b")])));
    for bad in ["=x", "alertname", r#"a=~"(""#, r#"a="open"#, "1a=b"] {
        assert!(Matcher::parse(bad).is_err(), "{bad} should not parse");
    }
}

#[test]
fn fixed_users_and_several_policies_each_get_a_group() {
    let oncall = policy(
        "oncall",
        json!([{"matchers": ["service=\"checkout\""], "users": ["bob@example.com", "carol@example.com"], "namespace": "oncall"}]),
    );
    let p = payload("firing.json");
    let policies = [prod_admin(), oncall];
    let (targets, _) = targets(&p, &policies);
    let users: Vec<(&str, &str)> = targets
        .iter()
        .map(|t| (t.group.namespace.as_str(), t.group.user.as_str()))
        .collect();
    assert_eq!(
        users,
        vec![
            ("incidents", "alice@example.com"),
            ("oncall", "bob@example.com"),
            ("oncall", "carol@example.com")
        ]
    );
    let ids: std::collections::BTreeSet<_> = targets.iter().map(|t| t.group.id()).collect();
    assert_eq!(ids.len(), 3, "distinct groups per policy and user");
}

#[test]
fn resolved_alerts_match_too_and_unmatched_ones_do_nothing() {
    let policies = [prod_admin()];
    // A resolved alert is matched like a firing one: if it arrives first, it is recorded
    // where its firing would go.
    let (t, _) = targets(&payload("resolved.json"), &policies);
    assert_eq!(t.len(), 1);
    let mixed = payload("mixed.json");
    let (t, _) = targets(&mixed, &policies);
    let statuses: Vec<AlertStatus> = t.iter().map(|t| mixed.alerts[t.alert].status).collect();
    assert_eq!(
        statuses,
        vec![AlertStatus::Firing, AlertStatus::Resolved],
        "DiskFull matches no rule"
    );
    let (t, skipped) = targets(&payload("firing.json"), &[]);
    assert!(t.is_empty() && skipped.is_empty());
}

#[test]
fn a_rule_that_cannot_be_used_is_reported_not_fatal() {
    let mut p = payload("firing.json");
    p.alerts[0].labels.remove("breakglass_user");
    let policies = [prod_admin()];
    let (t, skipped) = targets(&p, &policies);
    assert!(t.is_empty());
    assert!(skipped[0].why.contains("breakglass_user"), "{skipped:?}");
    let bad_regex = [policy(
        "bad",
        json!([{"matchers": ["alertname=~\"(\""], "users": ["a@example.com"], "namespace": "x"}]),
    )];
    let (t, skipped) = targets(&payload("firing.json"), &bad_regex);
    assert!(t.is_empty());
    assert!(skipped[0].why.contains("bad regex"), "{skipped:?}");
}
