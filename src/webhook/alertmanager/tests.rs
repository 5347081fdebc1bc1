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

fn build_for(payload: &Payload, t: &Target<'_>, resolved: bool) -> crate::api::BreakGlassGrant {
    crate::webhook::storm::grant::build(&crate::webhook::storm::grant::Opening {
        group: &t.group,
        rule: t.rule,
        alert: &payload.alerts[t.alert],
        external_url: &payload.external_url,
        requested_by: "system:serviceaccount:breakglass:breakglass-operator",
        resolved,
    })
}

#[test]
fn a_firing_alert_becomes_one_typed_grant_per_user() {
    let p = payload("firing.json");
    let policies = [prod_admin()];
    let (targets, skipped) = targets(&p, &policies);
    assert!(skipped.is_empty(), "{skipped:?}");
    let [t] = targets.as_slice() else {
        panic!("expected one target, got {targets:?}")
    };
    assert_eq!(t.group.namespace, "incidents");
    let grant = build_for(&p, t, false);
    let name = grant.metadata.name.clone().expect("name");
    assert!(name.starts_with("alert-higherrorrate-"), "{name}");
    assert_eq!(
        serde_json::to_value(&grant.spec).expect("spec"),
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
            "requestedBy": "system:serviceaccount:breakglass:breakglass-operator",
            "resolved": false,
        })
    );
    let labels = grant.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels[FINGERPRINT_LABEL], "c6b4d2a1f0e9d8c7");
    assert_eq!(labels[GROUP_LABEL], t.group.id());
    let annotations = grant.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations[STARTS_AT_ANNOTATION],
        "2026-11-21T10:00:00.000Z"
    );
    assert_eq!(annotations[FINGERPRINT_ANNOTATION], "c6b4d2a1f0e9d8c7");
    // The same notification again maps to the same grant: retries find it.
    let (again, _) = targets_of(&p, &policies);
    assert_eq!(build_for(&p, &again[0], false), grant);
    assert!(build_for(&p, t, true).spec.resolved);
}

fn targets_of<'a>(
    p: &Payload,
    policies: &'a [BreakGlassPolicy],
) -> (Vec<Target<'a>>, Vec<Skipped>) {
    targets(p, policies)
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

#[test]
fn grant_names_are_valid_and_stable() {
    use crate::webhook::storm::grant::grant_name;
    let g = GroupKey {
        policy: "p".into(),
        rule: "r".into(),
        namespace: "n".into(),
        user: "u".into(),
    };
    let a = grant_name(&g, "fp", "t", "High Error/Rate!");
    assert_eq!(a, grant_name(&g, "fp", "t", "High Error/Rate!"));
    assert_ne!(a, grant_name(&g, "fp", "t2", "High Error/Rate!"));
    let valid = regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("re");
    for name in [
        a,
        grant_name(&g, "fp", "t", ""),
        grant_name(&g, "fp", "t", &"X".repeat(300)),
    ] {
        assert!(valid.is_match(&name) && name.len() <= 63, "{name}");
    }
}
