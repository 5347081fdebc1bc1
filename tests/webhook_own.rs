//! The webhook's grants are its own: it joins alerts only to grants it requested itself
//! (a grant labelled like one of its own by someone else is left alone), and with
//! `--webhook-impersonate` it writes as that identity, under that identity's RBAC only.

mod common;

use breakglass::{
    api::{BreakGlassPolicy, GrantPhase},
    webhook::alertmanager::{GROUP_LABEL, NamedPolicy, SOURCE_LABEL, parse, targets},
};
use common::{hook::*, people::*, *};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

fn answer(h: &Hook, body: &Value) -> Value {
    let (code, text) = post_json(&h.url, Some(&h.token), body.to_string().as_bytes());
    assert_eq!(code, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The `breakglass.dev/alert-group` the webhook gives the grant for `payload`'s alert.
async fn group_of(h: &Hook, payload: &Value) -> String {
    let policy = Api::<BreakGlassPolicy>::all(h.s.client.clone())
        .get(&h.s.policy)
        .await
        .expect("policy");
    let policies = [NamedPolicy {
        name: h.s.policy.clone(),
        spec: policy.spec.0,
    }];
    let payload = parse(payload.to_string().as_bytes()).expect("payload");
    let (matched, _) = targets(&payload, &policies);
    matched[0].group.id()
}

#[tokio::test]
async fn a_grant_labelled_as_the_webhooks_but_requested_by_another_is_not_joined() {
    let h = Hook::new("hijack").await;
    let payload = alert_payload("firing", &h.alertname, "00000000000000ab");
    // Mallory's grant for Alice, dressed as the webhook's open grant of Alice's alert group:
    // joined, Alice's alerts would keep Mallory's grant alive and open none of Alice's own.
    let forged = "forged";
    h.s.create_grant(forged, |spec| {
        spec["requestedBy"] = json!("mallory@example.com")
    })
    .await;
    let group = group_of(&h, &payload).await;
    h.s.grants()
        .patch(
            forged,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                SOURCE_LABEL: "alertmanager", GROUP_LABEL: group,
            }}})),
        )
        .await
        .expect("labels");
    // Open (granted) and seen by the controller's watches, the webhook's among them.
    h.s.wait_phase(forged, GrantPhase::Active, SOON).await;

    let got = answer(&h, &payload);
    assert_eq!(got["updated"], json!([]), "joined the forged grant: {got}");
    let [created] = got["created"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    else {
        panic!("Alice's alert opens her own grant: {got}")
    };
    let name = created
        .as_str()
        .and_then(|c| c.split_once('/'))
        .expect("ns/name")
        .1;
    let own = h.s.grants().get(name).await.expect("the webhook's grant");
    assert_eq!(own.spec.user, ALICE);
    assert_eq!(own.spec.requested_by.as_deref(), Some(h.s.me.as_str()));
    let untouched = h.s.grants().get(forged).await.expect("forged grant");
    assert!(
        untouched
            .status
            .as_ref()
            .is_none_or(|s| s.alerts.is_empty()),
        "the forged grant got alerts: {:?}",
        untouched.status
    );
    assert!(!untouched.spec.resolved);
}

fn rule(resources: &[&str], verbs: &[&str], names: Option<&str>) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec!["breakglass.dev".into()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        resource_names: names.map(|n| vec![n.to_owned()]),
        ..PolicyRule::default()
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.into(),
    }
}

/// What the chart gives the webhook's ServiceAccount: grants in `grant_ns` only, reading
/// policies, and `request-on-behalf` on `policy` only.
async fn webhook_rbac(s: &Scenario, sa_ns: &str, sa: &str, grant_ns: &str) {
    let pp = PostParams::default();
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: sa.into(),
        namespace: Some(sa_ns.into()),
        api_group: None,
    };
    let role = Role {
        metadata: meta("webhook", Some(grant_ns)),
        rules: Some(vec![
            rule(
                &["breakglassgrants"],
                &["create", "get", "list", "watch", "patch", "update"],
                None,
            ),
            rule(&["breakglassgrants/status"], &["get", "patch"], None),
        ]),
    };
    Api::<Role>::namespaced(s.client.clone(), grant_ns)
        .create(&pp, &role)
        .await
        .expect("role");
    let binding = RoleBinding {
        metadata: meta("webhook", Some(grant_ns)),
        role_ref: role_ref("Role", "webhook"),
        subjects: Some(vec![subject.clone()]),
    };
    Api::<RoleBinding>::namespaced(s.client.clone(), grant_ns)
        .create(&pp, &binding)
        .await
        .expect("role binding");
    let name = unique_name("webhook", &s.ns);
    let cluster = ClusterRole {
        metadata: meta(&name, None),
        rules: Some(vec![
            rule(&["breakglasspolicies"], &["get", "list", "watch"], None),
            rule(
                &["breakglasspolicies"],
                &[breakglass::requester::ON_BEHALF_VERB],
                Some(&s.policy),
            ),
        ]),
        ..ClusterRole::default()
    };
    Api::<ClusterRole>::all(s.client.clone())
        .create(&pp, &cluster)
        .await
        .expect("cluster role");
    let bound = ClusterRoleBinding {
        metadata: meta(&name, None),
        role_ref: role_ref("ClusterRole", &name),
        subjects: Some(vec![subject]),
    };
    Api::<ClusterRoleBinding>::all(s.client.clone())
        .create(&pp, &bound)
        .await
        .expect("cluster role binding");
}

#[tokio::test]
async fn an_impersonating_webhook_writes_as_its_account_and_only_where_it_may() {
    // The account's home, and a namespace where it has no rights: ServiceAccounts are
    // names to the API server, no object is needed to impersonate one.
    let admin = client().await;
    let elsewhere = namespace(&admin, "webhook-elsewhere").await;
    let sa = format!("system:serviceaccount:{elsewhere}:webhook");
    let h = Hook::with_args("webhook-sa", &["--webhook-impersonate", &sa]).await;
    webhook_rbac(&h.s, &elsewhere, "webhook", &h.s.ns).await;
    // The requester admission policy too, naming the account among the operator's
    // identities as the chart does: requestedBy must be the creating user, and the alert's
    // user someone the account may ask for.
    install_policy_trusting(&h.s, "", &[&sa]).await;

    // RBAC reaches the authorizer within moments: until then the create is refused.
    let payload = alert_payload("firing", &h.alertname, "00000000000000ac");
    let last = std::cell::RefCell::new(Value::Null);
    let created = eventually(SOON, || async {
        let got = answer(&h, &payload);
        *last.borrow_mut() = got.clone();
        let created = got["created"].as_array()?.first()?.as_str()?.to_owned();
        Some(created.split_once('/')?.1.to_owned())
    })
    .await
    .unwrap_or_else(|| panic!("no grant created; last answer {}", last.borrow()));
    let g = h.s.grants().get(&created).await.expect("grant");
    assert_eq!(g.spec.requested_by.as_deref(), Some(sa.as_str()));
    assert_eq!(g.spec.user, ALICE);
    let recorded = g
        .status
        .as_ref()
        .map(|s| s.alerts.len())
        .unwrap_or_default();
    assert_eq!(
        recorded, 1,
        "its alert recorded by the account: {:?}",
        g.status
    );

    // A rule naming a namespace the account has no rights in: refused, nothing created.
    let stray = format!("{}Stray", h.alertname);
    policies_raw(&h.s.client)
        .patch(
            &h.s.policy,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"alerts": [
                {"matchers": [format!("alertname=\"{}\"", h.alertname)],
                 "userLabel": "breakglass_user", "namespace": h.s.ns, "duration": "2h"},
                {"matchers": [format!("alertname=\"{stray}\"")],
                 "userLabel": "breakglass_user", "namespace": elsewhere, "duration": "2h"},
            ]}})),
        )
        .await
        .expect("second rule");
    let stray_payload = alert_payload("firing", &stray, "00000000000000ad");
    // The webhook's watch brings the new rule within moments; until then nothing matches.
    let refused = eventually(SOON, || async {
        let got = answer(&h, &stray_payload);
        *last.borrow_mut() = got.clone();
        // Other tests' policies with a broken rule are listed too, by fingerprint.
        let skipped = got["skipped"]
            .as_array()?
            .iter()
            .find(|s| s.get("grant").is_some())?
            .clone();
        Some((got, skipped))
    })
    .await
    .unwrap_or_else(|| panic!("never refused; last answer {}", last.borrow()));
    let (got, skipped) = refused;
    assert_eq!(got["created"], json!([]), "{got}");
    let why = skipped["why"].as_str().unwrap_or_default();
    assert!(
        why.contains("forbidden") && why.contains(&sa),
        "refused by RBAC, as the account: {got}"
    );
    let there = Api::<breakglass::api::BreakGlassGrant>::namespaced(admin, &elsewhere)
        .list(&Default::default())
        .await
        .expect("list");
    assert!(there.items.is_empty(), "{:?}", there.items);
}
