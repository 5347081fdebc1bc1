//! Parsing, matching and mapping on payloads from `tests/fixtures/alertmanager/`.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::api::BreakGlassPolicy;

fn body(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/alertmanager/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn payload(name: &str) -> Payload {
    parse(&body(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn policy(name: &str, alerts: serde_json::Value) -> BreakGlassPolicy {
    serde_json::from_value(json!({
        "apiVersion": "breakglass.dev/v1alpha1",
        "kind": "BreakGlassPolicy",
        "metadata": {"name": name},
        "spec": {
            "duration": {"default": "1h", "max": "4h"},
            "aws": {"identityStoreId": "d-1234567890", "roleArn": "arn:aws:iam::111111111111:role/bg"},
            "access": {"groupMembership": {"groupName": "g"}},
            "alerts": alerts,
        }
    }))
    .expect("policy")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn prod_admin() -> BreakGlassPolicy {
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
fn a_firing_alert_becomes_one_grant_per_user() {
    let (actions, skipped) = plan(&payload("firing.json"), &[prod_admin()]);
    assert!(skipped.is_empty(), "{skipped:?}");
    let [Action::Create { namespace, grant }] = actions.as_slice() else {
        panic!("expected one Create, got {actions:?}")
    };
    assert_eq!(namespace, "incidents");
    let name = grant["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("alert-higherrorrate-"), "{name}");
    assert_eq!(
        grant["spec"],
        json!({
            "policy": "prod-admin",
            "user": "alice@example.com",
            "reason": "Checkout 5xx above 5%",
            "duration": "2h",
            "incident": {
                "id": "c6b4d2a1f0e9d8c7-20261121T100000000Z",
                "url": "http://prometheus.example.com/graph?g0.expr=errors",
                "source": "alertmanager",
            },
        })
    );
    assert_eq!(
        grant["metadata"]["labels"][FINGERPRINT_LABEL],
        "c6b4d2a1f0e9d8c7"
    );
    assert_eq!(
        grant["metadata"]["annotations"][STARTS_AT_ANNOTATION],
        "2026-11-21T10:00:00.000Z"
    );
    // The same notification again maps to the same name: repeats create nothing new.
    let (again, _) = plan(&payload("firing.json"), &[prod_admin()]);
    assert_eq!(actions, again);
    // The grant must be valid for the API types.
    serde_json::from_value::<crate::api::BreakGlassGrant>(grant.clone()).expect("a grant");
}

#[test]
fn fixed_users_and_several_policies_each_get_a_grant() {
    let oncall = policy(
        "oncall",
        json!([{"matchers": ["service=\"checkout\""], "users": ["bob@example.com", "carol@example.com"], "namespace": "oncall"}]),
    );
    let (actions, _) = plan(&payload("firing.json"), &[prod_admin(), oncall]);
    let users: Vec<(&str, &str)> = actions
        .iter()
        .map(|a| match a {
            Action::Create { namespace, grant } => (
                namespace.as_str(),
                grant["spec"]["user"].as_str().unwrap_or_default(),
            ),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        users,
        vec![
            ("incidents", "alice@example.com"),
            ("oncall", "bob@example.com"),
            ("oncall", "carol@example.com")
        ]
    );
    let names: std::collections::BTreeSet<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Create { grant, .. } => grant["metadata"]["name"].as_str(),
            _ => None,
        })
        .collect();
    assert_eq!(names.len(), 3, "distinct names per policy and user");
}

#[test]
fn resolved_alerts_resolve_and_unmatched_ones_do_nothing() {
    let (actions, _) = plan(&payload("resolved.json"), &[prod_admin()]);
    assert_eq!(
        actions,
        vec![Action::Resolve {
            fingerprint: "c6b4d2a1f0e9d8c7".into(),
            starts_at: "2026-11-21T10:00:00.000Z".into()
        }]
    );
    // Mixed: decided per alert, not from the top-level status.
    let (actions, _) = plan(&payload("mixed.json"), &[prod_admin()]);
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| match a {
            Action::Create { .. } => "create",
            Action::Resolve { .. } => "resolve",
        })
        .collect();
    assert_eq!(kinds, vec!["create", "resolve"], "DiskFull matches no rule");
    let (actions, skipped) = plan(&payload("firing.json"), &[]);
    assert!(actions.is_empty() && skipped.is_empty());
}

#[test]
fn a_rule_that_cannot_be_used_is_reported_not_fatal() {
    let mut p = payload("firing.json");
    p.alerts[0].labels.remove("breakglass_user");
    let (actions, skipped) = plan(&p, &[prod_admin()]);
    assert!(actions.is_empty());
    assert!(skipped[0].why.contains("breakglass_user"), "{skipped:?}");
    let bad_regex = policy(
        "bad",
        json!([{"matchers": ["alertname=~\"(\""], "users": ["a@example.com"], "namespace": "x"}]),
    );
    let (actions, skipped) = plan(&payload("firing.json"), &[bad_regex]);
    assert!(actions.is_empty());
    assert!(skipped[0].why.contains("bad regex"), "{skipped:?}");
}

#[test]
fn grant_names_are_valid_and_stable() {
    let a = grant_name("p", "fp", "t", "u", "High Error/Rate!");
    assert_eq!(a, grant_name("p", "fp", "t", "u", "High Error/Rate!"));
    assert_ne!(a, grant_name("p", "fp", "t2", "u", "High Error/Rate!"));
    let valid = regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("re");
    for name in [
        a,
        grant_name("p", "fp", "t", "u", ""),
        grant_name("p", "fp", "t", "u", &"X".repeat(300)),
    ] {
        assert!(valid.is_match(&name) && name.len() <= 63, "{name}");
    }
}
