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
    let (_controller, metrics) = metered_controller(&s.ns, &[]);
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
    // The scrape must work (a failed one would show no calls at all).
    scrape(&metrics, "breakglass_reconciles_total").await;
    let calls = aws_operations(&get_text(&metrics));
    let grant_calls = ["GetUserId", "IsMemberInGroups", "CreateGroupMembership"];
    assert!(
        !calls
            .iter()
            .any(|(_, op)| grant_calls.contains(&op.as_str())),
        "a denied grant made an AWS call: {calls:?}"
    );
}
