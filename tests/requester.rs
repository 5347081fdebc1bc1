//! Who asked, enforced by the real API server: the ValidatingAdmissionPolicy that
//! `breakglass admission-policy` prints, bound to the test's namespace only, and distinct
//! people acting through impersonation (`--as`). RBAC for each person is real RBAC.

mod common;

use breakglass::api::{BreakGlassGrant, GrantPhase};
use common::{people::*, *};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

async fn create_as(
    client: &Client,
    s: &Scenario,
    name: &str,
    user: &str,
    requested_by: Option<&str>,
) -> Result<(), String> {
    let mut obj = grant(&s.policy, user, requested_by);
    obj.metadata.name = Some(name.to_owned());
    grants_raw(client, &s.ns)
        .create(&PostParams::default(), &obj)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(s) => s.message,
            other => other.to_string(),
        })
}

#[tokio::test]
async fn the_api_server_checks_who_asks_and_for_whom() {
    let s = Scenario::new("requester").await;
    rbac(&s, &[ALICE, BOB, CAROL], &[CAROL]).await;
    install_policy(&s, "").await;
    let alice = client_as(ALICE, &[]).await;
    let bob = client_as(BOB, &[]).await;
    let carol = client_as(CAROL, &[]).await;

    // Alice for herself: accepted, and the grant goes all the way.
    let _controller = ControllerProcess::start(&s.ns, &[]);
    create_as(&alice, &s, "alice-self", ALICE, Some(ALICE))
        .await
        .expect("alice may ask for herself");
    let active = s.wait_phase("alice-self", GrantPhase::Active, SOON).await;
    assert_eq!(active.spec.requested_by.as_deref(), Some(ALICE));
    assert_eq!(s.members().await, vec![s.alice.clone()]);

    // Bob for Alice: refused, and the message says what would allow it.
    let refused = create_as(&bob, &s, "bob-for-alice", ALICE, Some(BOB))
        .await
        .expect_err("bob may not ask for alice");
    assert!(
        refused.contains("only for yourself")
            && refused.contains("request-on-behalf")
            && refused.contains(&format!("breakglasspolicies/{}", s.policy)),
        "{refused}"
    );

    // Carol, an incident commander (RBAC verb on this policy), for Alice: accepted.
    create_as(&carol, &s, "carol-for-alice", ALICE, Some(CAROL))
        .await
        .expect("a commander may ask for alice");

    // Spoofing requestedBy, or leaving it out: refused.
    let spoofed = create_as(&alice, &s, "spoofed", ALICE, Some(CAROL))
        .await
        .expect_err("alice may not claim carol asked");
    assert!(
        spoofed.contains(&format!("must be your own Kubernetes username \"{ALICE}\""))
            && spoofed.contains(&format!("not \"{CAROL}\"")),
        "{spoofed}"
    );
    let missing = create_as(&alice, &s, "missing", ALICE, None)
        .await
        .expect_err("requestedBy is required at admission");
    assert!(missing.contains("(it is missing)"), "{missing}");

    // After creation it cannot be changed, not even by the one who asked.
    let changed = grants_raw(&alice, &s.ns)
        .patch(
            "alice-self",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"requestedBy": CAROL}})),
        )
        .await
        .expect_err("requestedBy is immutable");
    assert!(
        changed.to_string().contains("requestedBy is immutable"),
        "{changed}"
    );

    let all: Vec<String> = Api::<BreakGlassGrant>::namespaced(s.client.clone(), &s.ns)
        .list(&Default::default())
        .await
        .expect("grants")
        .items
        .into_iter()
        .filter_map(|g| g.metadata.name)
        .collect();
    assert_eq!(
        all,
        ["alice-self", "carol-for-alice"],
        "refused grants were never stored"
    );
}

#[tokio::test]
async fn a_username_prefix_is_dropped_before_comparing_with_the_user() {
    let s = Scenario::new("requester-prefix").await;
    let oidc_alice = format!("oidc:{ALICE}");
    rbac(&s, &[&oidc_alice], &[]).await;
    install_policy(&s, "oidc:").await;
    let alice = client_as(&oidc_alice, &["oidc:sre"]).await;
    create_as(&alice, &s, "prefixed", ALICE, Some(&oidc_alice))
        .await
        .expect("oidc:alice is alice");
    let other = create_as(&alice, &s, "other", BOB, Some(&oidc_alice))
        .await
        .expect_err("but not bob");
    assert!(other.contains(&format!("spec.user \"{ALICE}\"")), "{other}");
}

#[tokio::test]
async fn without_the_admission_policy_a_grant_without_requester_is_denied_without_aws() {
    let s = Scenario::new("requester-unknown").await;
    // No sweep while the grant is handled (the first runs at start, before the grant; the
    // sweep reads the groups of every policy a grant names, denied or not): every AWS call
    // counted from here on is the grant's.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _controller = ControllerProcess::start_with_args(
        &s.ns,
        &[],
        &["--admin-addr", &addr, "--sweep-interval", "1h"],
    );
    let metrics = format!("http://{addr}/metrics");
    let sweeps = "breakglass_sweeps_total{outcome=\"ok\"}";
    let swept = scrape_reaching(&metrics, sweeps, 1.0).await;
    assert_eq!(swept, 1.0, "the controller's first sweep");
    let before = aws_calls_total(&metrics);
    s.create_grant("anonymous", |spec: &mut Value| {
        spec.as_object_mut().map(|o| o.remove("requestedBy"));
    })
    .await;
    let denied = s.wait_phase("anonymous", GrantPhase::Denied, SOON).await;
    let stalled = denied
        .status
        .as_ref()
        .and_then(|st| st.conditions.iter().find(|c| c.type_ == "Stalled"))
        .expect("Stalled");
    assert_eq!(stalled.reason, "RequesterUnknown");
    assert!(
        stalled.message.contains("spec.requestedBy"),
        "{}",
        stalled.message
    );
    assert!(s.members().await.is_empty());
    // Its reconciles have settled (the count stays put), and no sweep ran meanwhile.
    let reconciles = "breakglass_reconciles_total";
    let settled = eventually(SOON, || async {
        let n = scrape(&metrics, reconciles).await;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        (scrape(&metrics, reconciles).await == n).then_some(())
    })
    .await;
    assert!(settled.is_some(), "the denied grant kept being reconciled");
    assert_eq!(scrape(&metrics, sweeps).await, swept, "a sweep ran");
    let after = aws_calls_total(&metrics);
    assert_eq!(
        after,
        before,
        "a denied grant made AWS calls: {:?}",
        aws_operations(&get_text(&metrics))
    );
}

/// An incident commander: `request-on-behalf` on the scenario's policy.
const DAN: &str = "dan@example.com";

async fn patch_as(client: &Client, s: &Scenario, name: &str, patch: Value) -> Result<(), String> {
    grants_raw(client, &s.ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(s) => s.message,
            other => other.to_string(),
        })
}

/// The grant as stored: a refused change must leave it exactly so.
async fn stored(s: &Scenario, name: &str) -> Value {
    let g = grants_raw(&s.client, &s.ns).get(name).await.expect("grant");
    serde_json::to_value(g).expect("json")
}

/// `patch` by `client` is refused with a message containing each of `says`, and the grant
/// is unchanged (same resourceVersion, same content).
async fn refused(client: &Client, s: &Scenario, name: &str, patch: Value, says: &[&str]) {
    let before = stored(s, name).await;
    let err = patch_as(client, s, name, patch.clone())
        .await
        .expect_err(&format!("{patch} should be refused"));
    for part in says {
        assert!(err.contains(part), "{patch}: {err:?} lacks {part:?}");
    }
    assert_eq!(stored(s, name).await, before, "{patch} changed the grant");
}

fn labels(pairs: Value) -> Value {
    json!({"metadata": {"labels": pairs}})
}

fn annotations(pairs: Value) -> Value {
    json!({"metadata": {"annotations": pairs}})
}

#[tokio::test]
async fn only_its_user_its_requester_or_a_commander_may_end_a_grant() {
    let s = Scenario::new("requester-update").await;
    let operator = operator_sa(&s);
    rbac(&s, &[BOB, CAROL, DAN, &operator], &[DAN, &operator]).await;
    install_policy(&s, "").await;
    let bob = client_as(BOB, &[]).await;
    let carol = client_as(CAROL, &[]).await;
    let dan = client_as(DAN, &[]).await;
    let op = client_as(&operator, &[]).await;
    create_as(&bob, &s, "bobs", BOB, Some(BOB))
        .await
        .expect("bob asks for himself");

    // Carol, a colleague requester: she cannot end Bob's grant or release its hold.
    let who = [
        "only its user (bob@example.com), its requester (bob@example.com)",
        &format!("request-on-behalf on breakglasspolicies/{}", s.policy),
        "not you (carol@example.com)",
    ];
    let resolve = json!({"spec": {"resolved": true}});
    refused(
        &carol,
        &s,
        "bobs",
        resolve.clone(),
        &[&["spec.resolved"][..], &who].concat(),
    )
    .await;
    let restore = annotations(json!({"breakglass.dev/restore": "now"}));
    refused(
        &carol,
        &s,
        "bobs",
        restore.clone(),
        &[&["breakglass.dev/restore", "holds for review"][..], &who].concat(),
    )
    .await;

    // The record cannot be rewritten afterwards, by anyone.
    for client in [&carol, &bob] {
        refused(
            client,
            &s,
            "bobs",
            json!({"spec": {"reason": "nothing happened"}}),
            &["reason is immutable"],
        )
        .await;
        refused(
            client,
            &s,
            "bobs",
            json!({"spec": {"incident": {"id": "INC-0"}}}),
            &["incident is immutable"],
        )
        .await;
        refused(
            client,
            &s,
            "bobs",
            json!({"spec": {"incident": null}}),
            &["incident cannot be removed"],
        )
        .await;
    }

    // Labels and annotations that drive the operator are its own, on update and create.
    let forged = [
        "breakglass.dev/ drive the operator",
        "may not add, change or remove label breakglass.dev/source",
    ];
    let source = labels(json!({"breakglass.dev/source": "alertmanager"}));
    refused(&carol, &s, "bobs", source.clone(), &forged).await;
    refused(&bob, &s, "bobs", source, &forged).await;
    let mut labelled = grant(&s.policy, CAROL, Some(CAROL));
    labelled.metadata.name = Some("carols".into());
    labelled.metadata.labels =
        Some([("breakglass.dev/source".into(), "alertmanager".into())].into());
    let err = grants_raw(&carol, &s.ns)
        .create(&PostParams::default(), &labelled)
        .await
        .expect_err("a forged source label at create");
    assert!(err.to_string().contains(forged[1]), "{err}");
    assert!(
        grants_raw(&s.client, &s.ns)
            .get_opt("carols")
            .await
            .expect("get")
            .is_none()
    );

    // The operator's identity writes them (the sweep marks access removed on AWS)...
    let revoked = annotations(json!({"breakglass.dev/revoked-on-aws": "2026-01-01T00:00:00Z"}));
    patch_as(&op, &s, "bobs", revoked)
        .await
        .expect("the operator marks the grant");
    // ...and nobody else may take them off; other labels stay anyone's.
    refused(
        &carol,
        &s,
        "bobs",
        annotations(json!({"breakglass.dev/revoked-on-aws": null})),
        &["remove annotation breakglass.dev/revoked-on-aws"],
    )
    .await;
    patch_as(&carol, &s, "bobs", labels(json!({"team": "payments"})))
        .await
        .expect("a label of her own");

    // Bob, the user and requester, may release the hold and end his grant.
    patch_as(&bob, &s, "bobs", restore.clone())
        .await
        .expect("bob releases");
    patch_as(&bob, &s, "bobs", resolve.clone())
        .await
        .expect("bob resolves");
    let g = stored(&s, "bobs").await;
    assert_eq!(g["spec"]["resolved"], json!(true));
    assert_eq!(
        g["metadata"]["annotations"]["breakglass.dev/restore"],
        json!("now")
    );

    // An alert-opened grant: requested by the operator's identity (labels and all), for
    // Bob. Bob, its user, may end it; Carol may not; Dan, a commander, may release it.
    let mut alert = grant(&s.policy, BOB, Some(&operator));
    alert.metadata.name = Some("alert-x".into());
    alert.metadata.labels = Some(
        [
            ("breakglass.dev/source".into(), "alertmanager".into()),
            ("breakglass.dev/alert-group".into(), "g1".into()),
        ]
        .into(),
    );
    grants_raw(&op, &s.ns)
        .create(&PostParams::default(), &alert)
        .await
        .expect("the operator opens a grant for an alert");
    refused(
        &carol,
        &s,
        "alert-x",
        resolve.clone(),
        &[
            "spec.resolved",
            "its user (bob@example.com), its requester (system:serviceaccount:",
        ],
    )
    .await;
    patch_as(&dan, &s, "alert-x", restore)
        .await
        .expect("a commander releases");
    patch_as(&bob, &s, "alert-x", resolve.clone())
        .await
        .expect("bob ends it");

    // A commander may end someone else's grant too.
    create_as(&bob, &s, "bobs-second", BOB, Some(BOB))
        .await
        .expect("another");
    patch_as(&dan, &s, "bobs-second", resolve)
        .await
        .expect("a commander resolves");
}
