//! Who asked, enforced by the real API server: the ValidatingAdmissionPolicy that
//! `breakglass admission-policy` prints, bound to the test's namespace only, and distinct
//! people acting through impersonation (`--as`). RBAC for each person is real RBAC.

mod common;

use breakglass::{
    api::{BreakGlassGrant, GrantPhase},
    requester::admission::{self, Options},
};
use common::*;
use k8s_openapi::{
    api::{
        admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
        core::v1::Namespace,
        rbac::v1::{
            ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
        },
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const SCOPE_LABEL: &str = "breakglass.dev/requester-test";

fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: ns.map(str::to_owned),
        ..ObjectMeta::default()
    }
}

fn users(names: &[&str]) -> Vec<Subject> {
    names
        .iter()
        .map(|n| Subject {
            kind: "User".into(),
            name: n.to_string(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        })
        .collect()
}

/// Requesters may create and read grants in the namespace; `commanders` may also request
/// on behalf of others under the scenario's policy (the custom verb).
async fn rbac(s: &Scenario, requesters: &[&str], commanders: &[&str]) {
    let pp = PostParams::default();
    let role = Role {
        metadata: meta("requester", Some(&s.ns)),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["breakglass.dev".into()]),
            resources: Some(vec!["breakglassgrants".into()]),
            verbs: vec!["create".into(), "get".into(), "list".into(), "patch".into()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(s.client.clone(), &s.ns)
        .create(&pp, &role)
        .await
        .expect("role");
    let binding = RoleBinding {
        metadata: meta("requester", Some(&s.ns)),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "requester".into(),
        },
        subjects: Some(users(requesters)),
    };
    Api::<RoleBinding>::namespaced(s.client.clone(), &s.ns)
        .create(&pp, &binding)
        .await
        .expect("role binding");
    let name = format!("{}-commander", s.ns);
    let commander = ClusterRole {
        metadata: meta(&name, None),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["breakglass.dev".into()]),
            resources: Some(vec!["breakglasspolicies".into()]),
            resource_names: Some(vec![s.policy.clone()]),
            verbs: vec![breakglass::requester::ON_BEHALF_VERB.into()],
            ..PolicyRule::default()
        }]),
        ..ClusterRole::default()
    };
    Api::<ClusterRole>::all(s.client.clone())
        .create(&pp, &commander)
        .await
        .expect("commander role");
    let bound = ClusterRoleBinding {
        metadata: meta(&name, None),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(users(commanders)),
    };
    Api::<ClusterRoleBinding>::all(s.client.clone())
        .create(&pp, &bound)
        .await
        .expect("commander binding");
}

/// Installs the admission policy, bound to this test's namespace only (other tests running
/// at the same time are not affected), and waits until the API server enforces it.
async fn install_policy(s: &Scenario, prefix: &str) {
    Api::<Namespace>::all(s.client.clone())
        .patch(
            &s.ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {SCOPE_LABEL: s.ns}}})),
        )
        .await
        .expect("label the namespace");
    let options = Options {
        name: format!("{}-requester", s.ns),
        username_prefix: prefix.to_owned(),
        namespace_selector: Some(LabelSelector {
            match_labels: Some([(SCOPE_LABEL.to_owned(), s.ns.clone())].into()),
            ..LabelSelector::default()
        }),
    };
    let pp = PostParams::default();
    Api::<ValidatingAdmissionPolicy>::all(s.client.clone())
        .create(&pp, &admission::policy(&options).expect("policy"))
        .await
        .expect("admission policy");
    Api::<ValidatingAdmissionPolicyBinding>::all(s.client.clone())
        .create(&pp, &admission::binding(&options))
        .await
        .expect("binding");
    // The API server compiles and loads it asynchronously: probe with a dry run that only
    // the policy refuses (requestedBy names someone else).
    let probe = grant(&s.policy, "alice@example.com", Some("someone-else"));
    let enforced = eventually(SOON, || async {
        let dry = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        match grants_raw(&s.client, &s.ns).create(&dry, &probe).await {
            Err(kube::Error::Api(e)) if e.code == 403 || e.code == 422 => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(enforced.is_some(), "the admission policy never took effect");
}

fn grant(policy: &str, user: &str, requested_by: Option<&str>) -> kube::api::DynamicObject {
    let mut spec =
        json!({"policy": policy, "user": user, "reason": "incident", "incident": {"id": "INC-7"}});
    if let Some(r) = requested_by {
        spec["requestedBy"] = json!(r);
    }
    let name = format!(
        "g-{}",
        user.split('@').next().unwrap_or("x").replace(':', "-")
    );
    object("BreakGlassGrant", &name, None, spec)
}

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
