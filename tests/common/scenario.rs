//! A test's world: its own namespace, AWS account and Identity Store, one policy, and
//! helpers to create grants and wait for their phases.

use std::time::Duration;

use breakglass::api::{BreakGlassGrant, Condition, GrantPhase};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

use super::*;

pub const GROUP: &str = "breakglass-admins";
pub const ALICE: &str = "alice@example.com";

pub struct Scenario {
    pub client: Client,
    pub ns: String,
    pub aws: AwsFixture,
    pub policy: String,
    pub group_id: String,
    pub alice: String,
    /// The test's own Kubernetes username: what `spec.requestedBy` must say.
    pub me: String,
}

impl Scenario {
    pub async fn new(test: &str) -> Self {
        Self::with_aws(test, AwsFixture::new().await).await
    }

    pub async fn with_aws(test: &str, aws: AwsFixture) -> Self {
        let client = client().await;
        install_crds(&client).await;
        let ns = namespace(&client, test).await;
        let group_id = aws.create_group(GROUP).await;
        let alice = aws.create_user(ALICE).await;
        let policy = unique_name("policy", &ns);
        let me = breakglass::requester::whoami(&client)
            .await
            .expect("SelfSubjectReview");
        let s = Self {
            me,
            client,
            ns,
            aws,
            policy,
            group_id,
            alice,
        };
        s.create_policy(&s.policy, |_| {}).await;
        s
    }

    pub fn policy_spec(&self) -> Value {
        json!({
            "eligibleUsers": [ALICE],
            "duration": {"default": "1h", "max": "8h"},
            "aws": {
                "region": "us-east-1",
                "identityStoreId": self.aws.identity_store_id,
                "roleArn": self.aws.role_arn,
            },
            "access": {"groupMembership": {"groupName": GROUP}},
        })
    }

    pub async fn create_policy(&self, name: &str, tweak: impl FnOnce(&mut Value)) {
        let mut spec = self.policy_spec();
        tweak(&mut spec);
        policies_raw(&self.client)
            .create(
                &PostParams::default(),
                &object("BreakGlassPolicy", name, None, spec),
            )
            .await
            .expect("policy");
    }

    pub fn grants(&self) -> Api<BreakGlassGrant> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn create_grant(&self, name: &str, tweak: impl FnOnce(&mut Value)) {
        let mut spec = json!({
            "policy": self.policy,
            "user": ALICE,
            "requestedBy": self.me,
            "reason": "testing",
            "incident": {"id": "INC-1"},
        });
        tweak(&mut spec);
        grants_raw(&self.client, &self.ns)
            .create(
                &PostParams::default(),
                &object("BreakGlassGrant", name, Some(&self.ns), spec),
            )
            .await
            .expect("grant");
    }

    pub async fn wait_phase(
        &self,
        name: &str,
        phase: GrantPhase,
        within: Duration,
    ) -> BreakGlassGrant {
        let grants = self.grants();
        let found = eventually(within, || async {
            let g = grants.get(name).await.ok()?;
            (g.status.as_ref()?.phase == Some(phase)).then_some(g)
        })
        .await;
        match found {
            Some(g) => g,
            None => {
                let now = grants.get(name).await.ok().and_then(|g| g.status);
                panic!(
                    "grant {}/{name} did not reach {phase:?} within {within:?}; now: {now:#?}",
                    self.ns
                )
            }
        }
    }

    pub async fn members(&self) -> Vec<String> {
        self.aws.members(&self.group_id).await
    }

    /// What anyone who may patch grants can do: strip the finalizer, then delete. The delete
    /// is conditional on the stripped version: a controller reconciling meanwhile puts its
    /// finalizer back, and then the grant would be revoked the normal way; strip again.
    pub async fn strip_finalizer_and_delete(&self, name: &str) {
        let grants = self.grants();
        for _ in 0..20 {
            let stripped = grants
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await
                .expect("strip the finalizer");
            let only_that = DeleteParams {
                preconditions: Some(kube::api::Preconditions {
                    resource_version: stripped.metadata.resource_version,
                    uid: None,
                }),
                ..DeleteParams::default()
            };
            match grants.delete(name, &only_that).await {
                Ok(_) => return,
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => panic!("delete: {e}"),
            }
        }
        panic!("grant {name}: the finalizer kept coming back");
    }

    pub async fn resolve(&self, name: &str) {
        self.grants()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"resolved": true}})),
            )
            .await
            .expect("resolve");
    }
}

pub fn condition<'a>(g: &'a BreakGlassGrant, type_: &str) -> Option<&'a Condition> {
    g.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

pub const SOON: Duration = Duration::from_secs(20);

/// Reasons of the Events recorded on grant `name` once `want` are all there (`None` if not
/// within [`SOON`]).
pub async fn event_reasons(
    client: &Client,
    ns: &str,
    name: &str,
    want: &[&str],
) -> Option<Vec<String>> {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    eventually(SOON, || async {
        let list = events
            .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
            .await
            .ok()?;
        let reasons: Vec<String> = list.items.into_iter().filter_map(|e| e.reason).collect();
        want.iter()
            .all(|w| reasons.iter().any(|r| r == w))
            .then_some(reasons)
    })
    .await
}
