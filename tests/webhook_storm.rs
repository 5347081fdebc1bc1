//! Alert storms and out-of-order notifications, against a real controller process serving
//! the webhook and the real API server: many alerts about few people share one grant each,
//! repeats are answered from the webhook's cache with no API call, and a resolution that
//! arrives before its firing keeps the late firing from opening access.

mod common;

use breakglass::api::{AlertState, BreakGlassGrant, EndReason, GrantPhase};
use common::{hook::*, *};
use serde_json::{Value, json};

/// One notification of `alerts` alerts (`status`) naming `users` users in turn (only
/// [`ALICE`], who exists in the Identity Store, when there is one).
fn storm(h: &Hook, alerts: usize, users: usize, status: &str) -> Value {
    let user = |i: usize| {
        if users == 1 {
            ALICE.to_owned()
        } else {
            format!("storm{}@example.com", i % users)
        }
    };
    let alerts: Vec<Value> = (0..alerts)
        .map(|i| {
            json!({
                "status": status,
                "labels": {"alertname": h.alertname, "severity": "page",
                           "instance": format!("i-{i}"),
                           "breakglass_user": user(i)},
                "annotations": {"summary": "storm"},
                "startsAt": "2026-11-21T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "", "fingerprint": format!("{:016x}", 0x5000 + i),
            })
        })
        .collect();
    json!({"version": "4", "status": status, "externalURL": "http://am.example.com",
           "alerts": alerts})
}

fn post(h: &Hook, body: &Value) -> Value {
    let (code, text) = post_json(&h.url, Some(&h.token), body.to_string().as_bytes());
    assert_eq!(code, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn listed(answer: &Value, key: &str) -> usize {
    answer[key]
        .as_array()
        .map(Vec::len)
        .unwrap_or_else(|| panic!("no {key} in {answer}"))
}

/// Every Kubernetes call the webhook made, summed over kinds.
fn webhook_calls(h: &Hook) -> f64 {
    let m = h.metrics();
    ["create", "patch_status", "patch", "get"]
        .iter()
        .map(|k| {
            metric(
                &m,
                &format!("breakglass_webhook_writes_total{{kind=\"{k}\"}}"),
            )
        })
        .sum()
}

fn alerts_of(g: &BreakGlassGrant) -> Vec<(String, AlertState)> {
    g.status
        .as_ref()
        .map(|s| {
            s.alerts
                .iter()
                .map(|a| (a.fingerprint.clone(), a.state))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_storm_of_1000_alerts_for_10_users_makes_10_grants_and_repeats_call_nothing() {
    let h = Hook::new("storm").await;
    let payload = storm(&h, 1000, 10, "firing");
    let answer = post(&h, &payload);
    assert_eq!(listed(&answer, "created"), 10, "{answer}");
    let grants = h.grants().await;
    assert_eq!(grants.len(), 10);
    let me = breakglass::requester::whoami(&h.s.client)
        .await
        .expect("whoami");
    for g in &grants {
        assert_eq!(alerts_of(g).len(), 100, "{:?}", g.metadata.name);
        assert!(alerts_of(g).iter().all(|(_, s)| *s == AlertState::Firing));
        // The webhook asks as itself (the controller runs with the tests' kubeconfig).
        assert_eq!(g.spec.requested_by.as_deref(), Some(me.as_str()));
    }

    // The controller decides each grant (these users are not in the Identity Store, so it
    // denies them) and writes its status: the alerts the webhook recorded stay.
    for g in &grants {
        let name = g.metadata.name.clone().unwrap_or_default();
        let decided = eventually(SOON, || async {
            let g = h.s.grants().get(&name).await.ok()?;
            g.status.as_ref()?.phase.is_some().then_some(g)
        })
        .await
        .unwrap_or_else(|| panic!("{name} got no phase"));
        assert_eq!(alerts_of(&decided).len(), 100, "{name}: alerts wiped");
    }

    // The same storm again: answered from the cache, no Kubernetes call, nothing new.
    let calls = webhook_calls(&h);
    let repeats = metric(
        &h.metrics(),
        "breakglass_webhook_alerts_total{result=\"repeat\"}",
    );
    let again = post(&h, &payload);
    assert_eq!(listed(&again, "created"), 0, "{again}");
    assert_eq!(listed(&again, "updated"), 0, "{again}");
    assert_eq!(listed(&again, "existing"), 10, "{again}");
    assert_eq!(webhook_calls(&h), calls, "a repeat made Kubernetes calls");
    assert_eq!(
        metric(
            &h.metrics(),
            "breakglass_webhook_alerts_total{result=\"repeat\"}"
        ),
        repeats + 1000.0
    );
    assert_eq!(h.grants().await.len(), 10);
}

#[tokio::test]
async fn a_new_alert_joins_its_users_grant_and_the_last_resolution_ends_it() {
    let h = Hook::new("join").await;
    let first = storm(&h, 2, 1, "firing");
    let answer = post(&h, &first);
    assert_eq!(listed(&answer, "created"), 1, "{answer}");
    let name = h.grants().await[0].metadata.name.clone().expect("name");
    let granted = h.s.wait_phase(&name, GrantPhase::Active, SOON).await;
    assert_eq!(alerts_of(&granted).len(), 2);

    // A third alert about the same person joins the open grant.
    let three = storm(&h, 3, 1, "firing");
    let answer = post(&h, &three);
    assert_eq!(listed(&answer, "created"), 0, "{answer}");
    assert_eq!(listed(&answer, "updated"), 1, "{answer}");
    assert_eq!(h.grants().await.len(), 1);

    // Two of three resolve: the grant stays Active.
    let mut two = storm(&h, 2, 1, "resolved");
    two["alerts"][0]["endsAt"] = json!("2026-11-21T11:00:00Z");
    let answer = post(&h, &two);
    assert_eq!(listed(&answer, "resolved"), 0, "{answer}");
    let g = h.s.grants().get(&name).await.expect("grant");
    assert!(!g.spec.resolved);
    let resolved = alerts_of(&g)
        .iter()
        .filter(|(_, s)| *s == AlertState::Resolved)
        .count();
    assert_eq!(resolved, 2);

    // The last one resolves: the grant is resolved, ends, and the membership goes.
    let all = storm(&h, 3, 1, "resolved");
    let answer = post(&h, &all);
    assert_eq!(listed(&answer, "resolved"), 1, "{answer}");
    let ended = h.s.wait_phase(&name, GrantPhase::Ended, SOON).await;
    assert_eq!(
        ended.status.as_ref().and_then(|s| s.end_reason),
        Some(EndReason::Resolved)
    );
    assert!(h.s.members().await.is_empty());
    // The controller wrote the status several times since (Active, Ended): the webhook's
    // record of the alerts is intact.
    let states: Vec<AlertState> = alerts_of(&ended).into_iter().map(|(_, s)| s).collect();
    assert_eq!(states, vec![AlertState::Resolved; 3]);
}

#[tokio::test]
async fn a_resolution_before_its_firing_keeps_the_late_firing_from_opening_access() {
    let h = Hook::new("ooo").await;
    // Recorded notifications of one alert (same fingerprint and startsAt), out of order
    // as Alertmanager HA or a retry can deliver them.
    let resolved = alert_payload("resolved", &h.alertname, "00000000000000cc");
    let firing = alert_payload("firing", &h.alertname, "00000000000000cc");

    let answer = post(&h, &resolved);
    assert_eq!(listed(&answer, "created"), 0, "{answer}");
    assert_eq!(listed(&answer, "alreadyResolved"), 1, "{answer}");
    let grants = h.grants().await;
    let [tomb] = grants.as_slice() else {
        panic!("the resolution is recorded on one grant: {grants:?}")
    };
    assert!(tomb.spec.resolved, "born resolved");
    let name = tomb.metadata.name.clone().expect("name");
    let ended = h.s.wait_phase(&name, GrantPhase::Ended, SOON).await;
    assert!(
        ended
            .status
            .as_ref()
            .is_some_and(|s| s.granted_at.is_none() && s.access.is_none()),
        "never granted: {:?}",
        ended.status
    );

    // The late firing: answered "already resolved", no new grant, no access.
    let answer = post(&h, &firing);
    assert_eq!(listed(&answer, "created"), 0, "{answer}");
    assert_eq!(listed(&answer, "updated"), 0, "{answer}");
    assert_eq!(
        answer["alreadyResolved"],
        json!([format!("{}/{name}", h.s.ns)]),
        "{answer}"
    );
    assert_eq!(h.grants().await.len(), 1);
    assert!(h.s.members().await.is_empty());
    assert!(
        metric(
            &h.metrics(),
            "breakglass_webhook_alerts_total{result=\"already_resolved\"}"
        ) >= 1.0
    );

    // The same alert firing again later (a new startsAt) is a new incident: access opens.
    let mut later = firing.clone();
    later["alerts"][0]["startsAt"] = json!("2026-11-21T12:00:00Z");
    let answer = post(&h, &later);
    assert_eq!(listed(&answer, "created"), 1, "{answer}");
}

#[tokio::test]
async fn an_alert_for_a_grant_changed_since_the_webhook_saw_it_is_merged_not_lost() {
    // Grant watches held back 5 s: the webhook's copy of the grant is the one it wrote,
    // older than the controller's status writes that follow.
    let h = Hook::with_env("conflict", &[("BREAKGLASS_WATCH_LAG_MS", "5000")], &[]).await;
    // Fingerprints of its own: a resolution reaches every grant recording the alert, and
    // the other tests here send the storm's.
    let ours = |n: usize| {
        let mut p = storm(&h, n, 1, "firing");
        for (i, a) in p["alerts"].as_array_mut().into_iter().flatten().enumerate() {
            a["fingerprint"] = json!(format!("{:016x}", 0xc0f1_1c70_0000_u64 + i as u64));
        }
        p
    };
    let first = ours(1);
    // Its first list arrives late too: until then it answers 503.
    let answer = eventually(std::time::Duration::from_secs(30), || async {
        let (code, text) = post_json(&h.url, Some(&h.token), first.to_string().as_bytes());
        (code != 503).then(|| {
            assert_eq!(code, 200, "{text}");
            serde_json::from_str::<Value>(&text).expect("JSON")
        })
    })
    .await
    .expect("the webhook's cache never filled");
    assert_eq!(listed(&answer, "created"), 1, "{answer}");
    let name = h.grants().await[0].metadata.name.clone().expect("name");
    let active = eventually(std::time::Duration::from_secs(60), || async {
        let g = h.s.grants().get(&name).await.ok()?;
        (g.status.as_ref()?.phase == Some(GrantPhase::Active)).then_some(())
    })
    .await;
    assert!(active.is_some(), "{name} never Active");

    let reads = metric(
        &h.metrics(),
        "breakglass_webhook_writes_total{kind=\"get\"}",
    );
    let answer = post(&h, &ours(2));
    assert_eq!(listed(&answer, "updated"), 1, "{answer}");
    assert_eq!(listed(&answer, "created"), 0, "{answer}");
    assert!(
        metric(
            &h.metrics(),
            "breakglass_webhook_writes_total{kind=\"get\"}"
        ) > reads,
        "the API server refused the stale copy (409) and the webhook read the grant again"
    );
    let g = h.s.grants().get(&name).await.expect("grant");
    assert_eq!(
        alerts_of(&g),
        vec![
            ("0000c0f11c700000".to_owned(), AlertState::Firing),
            ("0000c0f11c700001".to_owned(), AlertState::Firing),
        ]
    );
    assert_eq!(
        g.status.as_ref().and_then(|st| st.phase),
        Some(GrantPhase::Active),
        "the controller's status is intact"
    );
    assert_eq!(h.grants().await.len(), 1);
}

#[tokio::test]
async fn a_resolution_for_a_grant_deleted_meanwhile_is_accepted_not_failed() {
    let h = Hook::new("gone").await;
    let answer = post(&h, &storm(&h, 1, 1, "firing"));
    assert_eq!(listed(&answer, "created"), 1, "{answer}");
    let name = h.grants().await[0].metadata.name.clone().expect("name");
    h.s.wait_phase(&name, GrantPhase::Active, SOON).await;

    // Deleted without its finalizer while the webhook still remembers writing it (seen in
    // the chaos campaign: every resolution then failed until the memory lapsed, a minute).
    h.s.strip_finalizer_and_delete(&name).await;
    eventually(SOON, || async {
        h.s.grants().get(&name).await.is_err().then_some(())
    })
    .await
    .expect("the grant is gone");
    let resolution = storm(&h, 1, 1, "resolved").to_string();
    let last = std::cell::RefCell::new(String::new());
    let accepted = eventually(SOON, || async {
        let (code, text) = post_json(&h.url, Some(&h.token), resolution.as_bytes());
        *last.borrow_mut() = format!("{code} {text}");
        (code == 200).then_some(())
    })
    .await;
    assert!(accepted.is_some(), "last answer: {}", last.borrow());
}
