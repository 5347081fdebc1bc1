//! The grants the webhook builds for matched alerts (`grant`), and what it reads back of
//! them (`known`), on the payloads of `tests/fixtures/alertmanager/`.

use serde_json::json;

use super::{grant, grant::grant_name, known};
use crate::api::{AlertState, BreakGlassGrant, GrantAlert};
use crate::webhook::alertmanager::{
    FINGERPRINT_ANNOTATION, FINGERPRINT_LABEL, GROUP_LABEL, GroupKey, Matched, NamedPolicy,
    Payload, STARTS_AT_ANNOTATION, parse, targets,
};

fn payload(name: &str) -> Payload {
    let path = format!(
        "{}/tests/fixtures/alertmanager/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn prod_admin() -> NamedPolicy {
    let spec = serde_json::from_value(json!({
        "duration": {"default": "1h", "max": "4h"},
        "aws": {"identityStoreId": "d-1234567890", "roleArn": "arn:aws:iam::111111111111:role/bg"},
        "access": {"groupMembership": {"groupName": "g"}},
        "alerts": [{
            "matchers": ["alertname=\"HighErrorRate\"", "severity=~\"critical|page\""],
            "userLabel": "breakglass_user",
            "namespace": "incidents",
            "duration": "2h",
        }],
    }))
    .expect("policy");
    NamedPolicy {
        name: "prod-admin".into(),
        spec,
    }
}

fn build_for(payload: &Payload, t: &Matched<'_>, resolved: bool) -> BreakGlassGrant {
    grant::build(&grant::Opening {
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
    let (matched, skipped) = targets(&p, &policies);
    assert!(skipped.is_empty(), "{skipped:?}");
    let [t] = matched.as_slice() else {
        panic!("expected one target, got {matched:?}")
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
    let (again, _) = targets(&p, &policies);
    assert_eq!(build_for(&p, &again[0], false), grant);
    assert!(build_for(&p, t, true).spec.resolved);
}

#[test]
fn grant_names_are_valid_and_stable() {
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

#[test]
fn known_grants_carry_their_opening_alert_before_status_is_written() {
    let p = payload("firing.json");
    let policies = [prod_admin()];
    let (t, _) = targets(&p, &policies);
    let grant = grant::build(&grant::Opening {
        group: &t[0].group,
        rule: t[0].rule,
        alert: &p.alerts[0],
        external_url: "",
        requested_by: "webhook",
        resolved: true,
    });
    let k = known(&grant);
    assert!(!k.open);
    assert_eq!(k.group.as_deref(), Some(t[0].group.id().as_str()));
    assert_eq!(
        k.alerts,
        vec![GrantAlert {
            fingerprint: p.alerts[0].fingerprint.clone(),
            starts_at: p.alerts[0].starts_at.clone(),
            state: AlertState::Resolved,
        }]
    );
}
