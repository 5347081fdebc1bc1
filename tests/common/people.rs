//! People: RBAC for requesters and incident commanders, and the requester admission policy
//! bound to one test's namespace.

use breakglass::requester::admission::{self, Options};
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
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{SOON, Scenario, eventually, grants_raw, object};

pub const BOB: &str = "bob@example.com";
pub const CAROL: &str = "carol@example.com";
pub const SCOPE_LABEL: &str = "breakglass.dev/requester-test";

pub fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: ns.map(str::to_owned),
        ..ObjectMeta::default()
    }
}

pub fn users(names: &[&str]) -> Vec<Subject> {
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
pub async fn rbac(s: &Scenario, requesters: &[&str], commanders: &[&str]) {
    let pp = PostParams::default();
    let role = Role {
        metadata: meta("requester", Some(&s.ns)),
        // As the chart's breakglass-requester ClusterRole: grants, and their Events for
        // `kubectl breakglass report`.
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(vec!["breakglass.dev".into()]),
                resources: Some(vec!["breakglassgrants".into()]),
                verbs: vec!["create".into(), "get".into(), "list".into(), "patch".into()],
                ..PolicyRule::default()
            },
            PolicyRule {
                api_groups: Some(vec!["".into()]),
                resources: Some(vec!["events".into()]),
                verbs: vec!["get".into(), "list".into()],
                ..PolicyRule::default()
            },
        ]),
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

/// A ServiceAccount username named as an operator identity in the installed policy (tests
/// impersonate it; no such ServiceAccount needs to exist).
pub fn operator_sa(s: &Scenario) -> String {
    format!("system:serviceaccount:{}:breakglass-operator", s.ns)
}

/// Installs the admission policy, bound to this test's namespace only (other tests running
/// at the same time are not affected), and waits until the API server enforces it. Its
/// operator identities: [`operator_sa`], and the environment's admin, as whom the tests'
/// controllers run.
pub async fn install_policy(s: &Scenario, prefix: &str) {
    install_policy_trusting(s, prefix, &[]).await;
}

/// Like `install_policy`, with `operators` among the operator's identities too (as the
/// chart names the webhook's own ServiceAccount).
pub async fn install_policy_trusting(s: &Scenario, prefix: &str, operators: &[&str]) {
    let admin = breakglass::requester::whoami(&s.client)
        .await
        .expect("the admin's username");
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
        operator_usernames: [operator_sa(s), admin]
            .into_iter()
            .chain(operators.iter().map(|o| o.to_string()))
            .collect(),
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

pub fn grant(policy: &str, user: &str, requested_by: Option<&str>) -> kube::api::DynamicObject {
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
