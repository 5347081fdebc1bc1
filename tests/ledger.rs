//! The ledger is the operator's alone: against the real kube-apiserver (RBAC, impersonated
//! users) and moto, nothing a namespace admin or another installation writes makes the
//! sweep take anyone's access. Controllers here sweep every 2 s (the test default).

mod common;

use breakglass::api::{BreakGlassLedgerEntry, GrantPhase, LedgerEntrySpec, LedgerTarget};
use common::{
    people::{meta, users},
    *,
};
use k8s_openapi::api::{
    core::v1::ConfigMap,
    rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef},
};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;

const BOB: &str = "bob@example.com";
const SWEEPS: &str = "breakglass_sweeps_total{outcome=\"ok\"}";

async fn sorted_members(s: &Scenario) -> Vec<String> {
    let mut m = s.members().await;
    m.sort();
    m
}

/// `n` more whole sweeps than now.
async fn sweeps_pass(metrics: &str, n: f64) {
    let now = scrape(metrics, SWEEPS).await;
    let later = scrape_reaching(metrics, SWEEPS, now + n).await;
    assert!(later >= now + n, "{n} more sweeps ran: {later}");
}

/// A namespace admin (every verb on every resource of the grants' and the old ledger's
/// namespace) cannot write ledger entries at all; the ConfigMap they can write (the old
/// ledger's form, naming an attacker's role and a real grant) and an entry a cluster admin
/// wrote under a name the operator does not compute never make the sweep remove a standing
/// member.
#[tokio::test]
async fn only_the_operator_writes_the_ledger_and_forged_entries_move_nothing() {
    let s = Scenario::new("ledger-forged").await;
    let bob = s.aws.create_user(BOB).await;
    s.aws.add_member(&s.group_id, &bob).await;

    let admin = "ns-admin@example.com";
    // No controller-manager here aggregates the built-in `admin` role: spelled out.
    Api::<Role>::namespaced(s.client.clone(), &s.ns)
        .create(
            &PostParams::default(),
            &Role {
                metadata: meta("ns-admin", Some(&s.ns)),
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec!["*".into()]),
                    resources: Some(vec!["*".into()]),
                    verbs: vec!["*".into()],
                    ..PolicyRule::default()
                }]),
            },
        )
        .await
        .expect("namespace admin role");
    Api::<RoleBinding>::namespaced(s.client.clone(), &s.ns)
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: meta("ns-admin", Some(&s.ns)),
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: "ns-admin".into(),
                },
                subjects: Some(users(&[admin])),
            },
        )
        .await
        .expect("namespace admin");
    let as_admin = client_as(admin, &[]).await;
    let target = breakglass::targets::Target::Group(breakglass::targets::GroupTarget {
        identity_store_id: s.aws.identity_store_id.clone(),
        group_id: s.group_id.clone(),
    });
    let spec = |installation: &str| LedgerEntrySpec {
        installation: installation.into(),
        target: LedgerTarget::from(&target),
        user_id: bob.clone(),
        user: BOB.into(),
        grant: format!("{}/g", s.ns),
        policy: s.policy.clone(),
        recorded_at: breakglass::api::Time(k8s_openapi::jiff::Timestamp::now()),
    };
    let installation = format!("t{:x}", fxhash(&s.ns));
    let denied = Api::<BreakGlassLedgerEntry>::all(as_admin.clone())
        .create(
            &PostParams::default(),
            &BreakGlassLedgerEntry::new(
                &breakglass::api::ledger_entry_name(&installation, &target, &bob),
                spec(&installation).into(),
            ),
        )
        .await;
    assert!(
        matches!(&denied, Err(kube::Error::Api(e)) if e.code == 403),
        "a namespace admin cannot write the ledger: {denied:?}"
    );
    // The old ledger's ConfigMap, in the namespace the controller once kept it in.
    let forged_map: ConfigMap = serde_json::from_value(json!({
        "metadata": {
            "name": breakglass::api::legacy_ledger_name(&target, &bob),
            "labels": {"breakglass.dev/ledger": "member"},
        },
        "data": {
            "identityStoreId": s.aws.identity_store_id, "groupId": s.group_id, "userId": bob,
            "user": BOB, "grant": format!("{}/g", s.ns),
            "roleArn": "arn:aws:iam::123456789012:role/attacker",
        },
    }))
    .expect("config map");
    Api::<ConfigMap>::namespaced(as_admin, &s.ns)
        .create(&PostParams::default(), &forged_map)
        .await
        .expect("a namespace admin may write ConfigMaps");
    // A cluster admin's hand-written entry, under a name not computed for its content.
    let mut misnamed = BreakGlassLedgerEntry::new(
        &format!("breakglass-member-{}", s.ns),
        spec(&installation).into(),
    );
    misnamed.metadata.labels = Some(
        [
            ("breakglass.dev/ledger".to_owned(), "member".to_owned()),
            (
                "breakglass.dev/installation".to_owned(),
                installation.clone(),
            ),
        ]
        .into(),
    );
    Api::<BreakGlassLedgerEntry>::all(s.client.clone())
        .create(&PostParams::default(), &misnamed)
        .await
        .expect("a cluster admin may");

    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _controller = ControllerProcess::start_with_args(
        &s.ns,
        &[],
        &["--admin-addr", &addr, "--installation-id", &installation],
    );
    let metrics = format!("http://{addr}/metrics");
    s.create_grant("g", |_| {}).await;
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    sweeps_pass(&metrics, 3.0).await;
    let mut both = vec![s.alice.clone(), bob.clone()];
    both.sort();
    assert_eq!(
        sorted_members(&s).await,
        both,
        "bob's standing membership kept"
    );
    let ignored = scrape(
        &metrics,
        "breakglass_ledger_entries_ignored{reason=\"foreign\"}",
    )
    .await;
    assert!(ignored >= 1.0, "the misnamed entry is reported: {ignored}");
    assert!(
        Api::<ConfigMap>::namespaced(s.client.clone(), &s.ns)
            .get_opt(&forged_map.metadata.name.clone().unwrap_or_default())
            .await
            .expect("read")
            .is_some(),
        "the forged ConfigMap is not migrated (its grant does not record bob): left for a person"
    );

    s.resolve("g").await;
    s.wait_phase("g", GrantPhase::Ended, SOON).await;
    sweeps_pass(&metrics, 2.0).await;
    assert_eq!(
        sorted_members(&s).await,
        [bob],
        "alice's access ended, bob's kept"
    );
    Api::<BreakGlassLedgerEntry>::all(s.client.clone())
        .delete(&format!("breakglass-member-{}", s.ns), &Default::default())
        .await
        .expect("clean up the cluster-scoped entry");
}

/// Two namespace-scoped installations give two users access to one exclusive group: each
/// sees the other's member recorded in the other's ledger, so neither removes it nor ends
/// the other's grant as revoked on AWS, and each takes back only its own.
#[tokio::test]
async fn two_namespace_installations_on_one_exclusive_group_coexist() {
    let s = Scenario::new("ledger-two-a").await;
    let bob = s.aws.create_user(BOB).await;
    policies_raw(&s.client)
        .patch(
            &s.policy,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "eligibleUsers": [ALICE, BOB],
                "access": {"groupMembership": {"exclusive": true}},
            }})),
        )
        .await
        .expect("policy");
    let other_ns = namespace(&s.client, "ledger-two-b").await;
    let (port_a, port_b) = (free_port(), free_port());
    let (addr_a, addr_b) = (format!("127.0.0.1:{port_a}"), format!("127.0.0.1:{port_b}"));
    let _a = ControllerProcess::start_with_args(&s.ns, &[], &["--admin-addr", &addr_a]);
    let _b = ControllerProcess::start_with_args(&other_ns, &[], &["--admin-addr", &addr_b]);
    let (metrics_a, metrics_b) = (
        format!("http://{addr_a}/metrics"),
        format!("http://{addr_b}/metrics"),
    );

    s.create_grant("g", |_| {}).await;
    grants_raw(&s.client, &other_ns)
        .create(
            &PostParams::default(),
            &object(
                "BreakGlassGrant",
                "h",
                Some(&other_ns),
                json!({"policy": s.policy, "user": BOB, "requestedBy": s.me,
                       "reason": "testing", "incident": {"id": "INC-2"}}),
            ),
        )
        .await
        .expect("grant in the other namespace");
    let other_grants: Api<breakglass::api::BreakGlassGrant> =
        Api::namespaced(s.client.clone(), &other_ns);
    let phase_of_h = || async {
        other_grants
            .get("h")
            .await
            .ok()
            .and_then(|g| g.status?.phase)
    };
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    eventually(SOON, || async {
        (phase_of_h().await == Some(GrantPhase::Active)).then_some(())
    })
    .await
    .expect("bob's grant Active");

    sweeps_pass(&metrics_a, 3.0).await;
    sweeps_pass(&metrics_b, 3.0).await;
    let mut both = vec![s.alice.clone(), bob.clone()];
    both.sort();
    assert_eq!(
        sorted_members(&s).await,
        both,
        "neither removed the other's"
    );
    assert_eq!(
        phase_of_h().await,
        Some(GrantPhase::Active),
        "bob's grant not ended"
    );

    s.resolve("g").await;
    s.wait_phase("g", GrantPhase::Ended, SOON).await;
    sweeps_pass(&metrics_b, 2.0).await;
    assert_eq!(sorted_members(&s).await, [bob], "only alice's taken back");
    assert_eq!(phase_of_h().await, Some(GrantPhase::Active));
}

/// FNV-1a of the namespace: a per-test installation id (letters and digits, ≤ 16).
fn fxhash(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
