//! Grouping and ordering decisions on recorded payloads (`tests/fixtures/alertmanager/`)
//! and on a generated storm.

use serde_json::json;

use super::*;
use crate::alertmanager::{NamedPolicy, Payload, parse, targets};

/// The webhook's own username: `spec.requestedBy` of the grants it made.
pub(super) const WEBHOOK: &str = "system:serviceaccount:breakglass:breakglass-webhook";

pub(super) fn fixture(name: &str) -> Payload {
    let path = format!(
        "{}/../../tests/fixtures/alertmanager/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub(super) fn prod_admin() -> NamedPolicy {
    let spec = serde_json::from_value(json!({
        "duration": {"default": "1h", "max": "4h"},
        "aws": {"identityStoreId": "d-1234567890", "roleArn": "arn:aws:iam::111111111111:role/bg"},
        "access": {"groupMembership": {"groupName": "g"}},
        "alerts": [{
            "matchers": ["alertname=\"HighErrorRate\"", "severity=~\"critical|page\""],
            "userLabel": "breakglass_user",
            "namespace": "incidents",
        }],
    }))
    .expect("policy");
    NamedPolicy {
        name: "prod-admin".into(),
        spec,
    }
}

/// `alerts` firing alerts spread over `users` users, one rule, as one notification.
pub(super) fn storm(alerts: usize, users: usize, status: &str) -> Payload {
    let alerts: Vec<_> = (0..alerts)
        .map(|i| {
            json!({
                "status": status,
                "labels": {"alertname": "HighErrorRate", "severity": "page",
                           "instance": format!("i-{i}"),
                           "breakglass_user": format!("user{}@example.com", i % users)},
                "annotations": {}, "startsAt": "2026-11-21T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                "fingerprint": format!("{i:016x}"),
            })
        })
        .collect();
    let body = json!({"version": "4", "status": status, "alerts": alerts}).to_string();
    parse(body.as_bytes()).expect("storm payload")
}

/// What the cache would hold once `creates` were written.
pub(super) fn written(creates: &[Create<'_>]) -> Vec<Known> {
    creates
        .iter()
        .map(|c| Known {
            namespace: c.group.namespace.clone(),
            name: format!("g-{}", c.group.id()),
            group: Some(c.group.id()),
            policy: c.group.policy.clone(),
            user: c.group.user.clone(),
            requested_by: Some(WEBHOOK.into()),
            open: !c.resolved(),
            alerts: c.alerts.clone(),
            created: None,
        })
        .collect()
}

#[test]
fn a_storm_of_1000_alerts_for_10_users_makes_10_grants() {
    let p = storm(1000, 10, "firing");
    let policies = [prod_admin()];
    let (t, skipped) = targets(&p, &policies);
    assert!(skipped.is_empty());
    let d = decide(&p.alerts, &t, &[], WEBHOOK);
    assert_eq!(d.creates.len(), 10);
    assert!(d.updates.is_empty());
    assert!(
        d.creates
            .iter()
            .all(|c| c.alerts.len() == 100 && !c.resolved())
    );
    let users: std::collections::BTreeSet<_> =
        d.creates.iter().map(|c| c.group.user.clone()).collect();
    assert_eq!(users.len(), 10);

    // The same storm again: every alert is a repeat, nothing to write.
    let known = written(&d.creates);
    let again = decide(&p.alerts, &t, &known, WEBHOOK);
    assert!(again.creates.is_empty() && again.updates.is_empty());
    assert_eq!(again.repeats, 1000);
    assert_eq!(again.existing.len(), 10);
}

#[test]
fn new_alerts_join_the_open_grant_of_their_user() {
    let policies = [prod_admin()];
    let first = storm(10, 2, "firing");
    let (t, _) = targets(&first, &policies);
    let known = written(&decide(&first.alerts, &t, &[], WEBHOOK).creates);
    let bigger = storm(12, 2, "firing");
    let (t, _) = targets(&bigger, &policies);
    let d = decide(&bigger.alerts, &t, &known, WEBHOOK);
    assert!(d.creates.is_empty(), "no new grant while one is open");
    assert_eq!(d.updates.len(), 2);
    assert!(d.updates.iter().all(|(_, _, a)| a.len() == 1));
    assert_eq!(d.repeats, 10);

    // Once the grant is closed (ended, resolved), a new alert opens a new one.
    let closed: Vec<Known> = known
        .into_iter()
        .map(|k| Known { open: false, ..k })
        .collect();
    let d = decide(&bigger.alerts, &t, &closed, WEBHOOK);
    assert_eq!(d.creates.len(), 2);
    assert!(d.updates.is_empty());
}

#[test]
fn a_resolution_marks_the_alert_and_the_last_one_resolves_the_grant() {
    let policies = [prod_admin()];
    let firing = storm(2, 1, "firing");
    let (t, _) = targets(&firing, &policies);
    let known = written(&decide(&firing.alerts, &t, &[], WEBHOOK).creates);
    let mut one = storm(1, 1, "resolved");
    one.alerts.truncate(1);
    let (t, _) = targets(&one, &policies);
    let d = decide(&one.alerts, &t, &known, WEBHOOK);
    let [(_, _, upserts)] = d.updates.as_slice() else {
        panic!("one update expected: {d:?}")
    };
    let after = merge(&known[0].alerts, upserts);
    assert_eq!(
        after.iter().map(|a| a.state).collect::<Vec<_>>(),
        vec![AlertState::Resolved, AlertState::Firing],
        "one of two resolved: the grant stays"
    );
    let both = storm(2, 1, "resolved");
    let (t, _) = targets(&both, &policies);
    let d = decide(&both.alerts, &t, &known, WEBHOOK);
    let after = merge(&known[0].alerts, &d.updates[0].2);
    assert!(after.iter().all(|a| a.state == AlertState::Resolved));
}

#[test]
fn a_resolution_before_its_firing_is_recorded_and_the_late_firing_opens_nothing() {
    // Recorded payloads: the same alert (fingerprint and startsAt) resolved, then firing.
    let policies = [prod_admin()];
    let resolved = fixture("resolved.json");
    let firing = fixture("firing.json");
    assert_eq!(resolved.alerts[0].fingerprint, firing.alerts[0].fingerprint);
    assert_eq!(resolved.alerts[0].starts_at, firing.alerts[0].starts_at);

    let (t, _) = targets(&resolved, &policies);
    let d = decide(&resolved.alerts, &t, &[], WEBHOOK);
    let [create] = d.creates.as_slice() else {
        panic!("the resolution is recorded on a grant: {d:?}")
    };
    assert!(
        create.resolved(),
        "created already resolved: it never grants"
    );

    let known = written(&d.creates);
    let (t, _) = targets(&firing, &policies);
    let late = decide(&firing.alerts, &t, &known, WEBHOOK);
    assert!(
        late.creates.is_empty() && late.updates.is_empty(),
        "{late:?}"
    );
    assert_eq!(late.late, 1);
    assert_eq!(late.already_resolved, vec![known[0].id()]);

    // A later firing of the same alert (a new startsAt) is a new incident.
    let mut again = firing.clone();
    again.alerts[0].starts_at = "2026-11-21T12:00:00.000Z".into();
    let (t, _) = targets(&again, &policies);
    assert_eq!(decide(&again.alerts, &t, &known, WEBHOOK).creates.len(), 1);
}

#[test]
fn a_resolution_before_its_firing_joins_an_open_grant_as_resolved() {
    let policies = [prod_admin()];
    let open = storm(1, 1, "firing");
    let (t, _) = targets(&open, &policies);
    let known = written(&decide(&open.alerts, &t, &[], WEBHOOK).creates);
    let mut other = storm(2, 1, "resolved");
    other.alerts.remove(0);
    let (t, _) = targets(&other, &policies);
    let d = decide(&other.alerts, &t, &known, WEBHOOK);
    assert!(d.creates.is_empty());
    assert_eq!(d.updates[0].2[0].state, AlertState::Resolved);
    let after = merge(&known[0].alerts, &d.updates[0].2);
    assert!(
        after.iter().any(|a| a.state == AlertState::Firing),
        "the open grant's own alert still fires"
    );
}

#[test]
fn merging_keeps_a_resolution_and_adds_new_alerts_once() {
    let a = |fp: &str, state| GrantAlert {
        fingerprint: fp.into(),
        starts_at: "t".into(),
        state,
    };
    let current = vec![a("1", AlertState::Resolved), a("2", AlertState::Firing)];
    let merged = merge(
        &current,
        &[
            a("1", AlertState::Firing),
            a("2", AlertState::Resolved),
            a("3", AlertState::Firing),
            a("3", AlertState::Firing),
        ],
    );
    assert_eq!(
        merged,
        vec![
            a("1", AlertState::Resolved),
            a("2", AlertState::Resolved),
            a("3", AlertState::Firing)
        ]
    );
}

#[test]
fn a_repeat_finds_a_grant_opened_before_grouping() {
    let p = fixture("firing.json");
    let policies = [prod_admin()];
    let (t, _) = targets(&p, &policies);
    // What the previous webhook made: no group label, the alert in its annotations only.
    let legacy = Known {
        namespace: "incidents".into(),
        name: "alert-higherrorrate-0123456789abcdef".into(),
        group: None,
        policy: "prod-admin".into(),
        user: "alice@example.com".into(),
        requested_by: Some(WEBHOOK.into()),
        open: true,
        alerts: vec![GrantAlert {
            fingerprint: p.alerts[0].fingerprint.clone(),
            starts_at: p.alerts[0].starts_at.clone(),
            state: AlertState::Firing,
        }],
        created: None,
    };
    let d = decide(&p.alerts, &t, std::slice::from_ref(&legacy), WEBHOOK);
    assert!(d.creates.is_empty() && d.updates.is_empty(), "{d:?}");
    assert_eq!(d.existing, vec![legacy.id()]);
}
