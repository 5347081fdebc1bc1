//! The campaign's world: one namespace, one AWS account and Identity Store, two policies
//! (an exclusive group and exclusive account assignments on two accounts), each pausing a
//! real Argo CD Application or Flux Kustomization, and four people.

use serde_json::{Value, json};

use crate::{
    Error,
    common::{objects::*, *},
};

pub const USERS: [&str; 4] = [
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
    "dave@example.com",
];
pub const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];
const PERMISSION_SET: &str = "ChaosAdmin";
pub const ALERTNAME: &str = "ChaosIncident";

/// A policy of the campaign and what it pauses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Group,
    Accounts,
}

pub struct World {
    pub s: Scenario,
    pub group_policy: String,
    pub accounts_policy: String,
    pub permission_set: String,
    /// Identity Store user id per user name.
    pub ids: Vec<(String, String)>,
    /// The paused objects' specs before the campaign: what must come back.
    pub app_spec: Value,
    pub kustomization_spec: Value,
}

impl World {
    pub async fn new() -> Result<Self, Error> {
        let s = Scenario::new("chaos").await;
        let mut ids = vec![(USERS[0].to_owned(), s.alice.clone())];
        for user in &USERS[1..] {
            ids.push(((*user).to_owned(), s.aws.create_user(user).await));
        }
        let permission_set = s.aws.create_permission_set(PERMISSION_SET).await;
        let ns = s.ns.clone();
        let app = create(
            &s.client,
            &ns,
            APPLICATION,
            "payments",
            application(Some(json!({"prune": true, "selfHeal": true}))),
        )
        .await;
        let kustomization = create(
            &s.client,
            &ns,
            KUSTOMIZATION,
            "infra",
            json!({"spec": {"interval": "5m", "path": "./infra", "prune": true,
                            "sourceRef": {"kind": "GitRepository", "name": "infra"}}}),
        )
        .await;
        let group_policy = unique_name("chaos-group", &ns);
        let accounts_policy = unique_name("chaos-accounts", &ns);
        let alerts = json!([{
            "matchers": [format!("alertname=\"{ALERTNAME}\""), format!("chaos=\"{ns}\"")],
            "userLabel": "breakglass_user",
            "namespace": ns,
            "duration": "45s",
        }]);
        s.create_policy(&group_policy, |p| {
            p["eligibleUsers"] = json!(USERS);
            p["duration"] = json!({"default": "40s", "max": "2m"});
            p["access"] = json!({"groupMembership": {"groupName": GROUP, "exclusive": true}});
            p["pause"] = json!([{"argoCD": {"namespace": ns, "names": ["payments"]}}]);
            p["alerts"] = alerts;
        })
        .await;
        s.create_policy(&accounts_policy, |p| {
            p["eligibleUsers"] = json!(USERS);
            p["duration"] = json!({"default": "40s", "max": "2m"});
            p["access"] = json!({"accountAssignment": {
                "permissionSetName": PERMISSION_SET,
                "accountIds": ACCOUNTS,
                "exclusive": true,
            }});
            p["pause"] =
                json!([{"flux": {"kind": "Kustomization", "namespace": ns, "names": ["infra"]}}]);
        })
        .await;
        Ok(Self {
            s,
            group_policy,
            accounts_policy,
            permission_set,
            ids,
            app_spec: app["spec"].clone(),
            kustomization_spec: kustomization["spec"].clone(),
        })
    }

    pub fn policy(&self, kind: Kind) -> &str {
        match kind {
            Kind::Group => &self.group_policy,
            Kind::Accounts => &self.accounts_policy,
        }
    }

    pub fn user_of(&self, id: &str) -> String {
        self.ids
            .iter()
            .find(|(_, i)| i == id)
            .map(|(u, _)| u.clone())
            .unwrap_or_else(|| format!("unknown id {id}"))
    }
}
