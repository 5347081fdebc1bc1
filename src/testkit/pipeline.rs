//! A whole controller in process: the in-memory Identity Center, the lenient API
//! ([`super::Cluster`]) holding policies, grants and the ledger, and a [`Context`] on both.
//! A test stores a policy and a grant, runs the controller's reconcile on the stored copy
//! (as the watch would hand it over) and reads back what the grant, the ledger and AWS hold.

use std::{sync::Arc, time::Duration};

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::{
    responder::{Cluster, cluster},
    timeline::Timeline,
};
use crate::{
    api::{BreakGlassGrant, GrantPhase},
    aws::{Assignment, memory::Memory},
    controller::{Context, Error, FINALIZER, ledger::Ledger, reconcile},
    telemetry::Metrics,
};

pub(crate) const STORE: &str = "d-1";
pub(crate) const ROLE: &str = "arn:aws:iam::111111111111:role/breakglass";
pub(crate) const ALICE: &str = "alice@example.com";
pub(crate) const GROUP: &str = "breakglass-admins";
pub(crate) const NS: &str = "incidents";
pub(crate) const INSTANCE: &str = "arn:aws:sso:::instance/ssoins-0000000000000001";
pub(crate) const PERMISSION_SET: &str = "AdministratorAccess";
pub(crate) const ACCOUNT: &str = "222222222222";

const GROUP_API: &str = "/apis/breakglass.dev/v1alpha1";

pub(crate) fn grant_path(name: &str) -> String {
    format!("{GROUP_API}/namespaces/{NS}/breakglassgrants/{name}")
}

pub(crate) fn policy_path(name: &str) -> String {
    format!("{GROUP_API}/breakglasspolicies/{name}")
}

pub(crate) fn ledger_collection() -> String {
    format!("{GROUP_API}/breakglassledgerentries")
}

pub(crate) struct Pipeline {
    pub aws: Arc<Memory>,
    pub api: Cluster,
    pub timeline: Timeline,
    pub ctx: Arc<Context>,
    /// Alice's user id and the group's id in the store.
    pub alice: String,
    pub group: String,
}

impl Pipeline {
    /// Alice and the group exist in the Identity Store; nothing else does.
    pub(crate) fn new() -> Self {
        let aws = Arc::new(Memory::new());
        let alice = aws.user(STORE, ALICE);
        let group = aws.group(STORE, GROUP);
        let timeline = Timeline::default();
        timeline.observe(&aws);
        let (client, api) = cluster(timeline.clone());
        let ledger = Ledger::new(client.clone(), super::installation());
        let ctx = Arc::new(Context::new(
            client,
            aws.clone(),
            Arc::new(Metrics::new()),
            ledger,
        ));
        Self {
            aws,
            api,
            timeline,
            ctx,
            alice,
            group,
        }
    }

    /// Another controller (a restarted process, the next leader) on the same cluster and
    /// AWS: none of this one's memory.
    pub(crate) fn restarted(&self) -> Arc<Context> {
        let ctx = &self.ctx;
        Arc::new(Context::new(
            ctx.client.clone(),
            self.aws.clone(),
            Arc::new(Metrics::new()),
            Ledger::new(ctx.client.clone(), super::installation()),
        ))
    }

    /// A policy giving Alice membership of the group, for 1h by default.
    pub(crate) fn group_policy() -> Value {
        json!({
            "eligibleUsers": [ALICE],
            "duration": {"default": "1h", "max": "8h"},
            "aws": {"region": "us-east-1", "identityStoreId": STORE, "roleArn": ROLE},
            "access": {"groupMembership": {"groupName": GROUP}},
        })
    }

    /// A policy assigning Alice the permission set on the account; sets both up on AWS.
    pub(crate) fn account_policy(&self) -> Value {
        self.aws.instance(INSTANCE, STORE);
        self.aws.permission_set(INSTANCE, PERMISSION_SET);
        json!({
            "eligibleUsers": [ALICE],
            "duration": {"default": "1h", "max": "8h"},
            "aws": {"region": "us-east-1", "identityStoreId": STORE, "roleArn": ROLE},
            "access": {"accountAssignment": {"instanceArn": INSTANCE,
                       "permissionSetName": PERMISSION_SET, "accountIds": [ACCOUNT]}},
        })
    }

    /// The assignment an account policy gives.
    pub(crate) fn assignment(&self) -> Assignment {
        Assignment {
            instance_arn: INSTANCE.into(),
            account_id: ACCOUNT.into(),
            permission_set_arn: self.aws.permission_set(INSTANCE, PERMISSION_SET),
        }
    }

    pub(crate) fn policy(&self, name: &str, spec: Value) {
        self.api.put(
            &policy_path(name),
            json!({"apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassPolicy",
                   "metadata": {"name": name, "generation": 1}, "spec": spec}),
        );
    }

    /// A grant of `policy` for Alice (`spec` merged over it), its finalizer already added.
    pub(crate) fn grant(&self, name: &str, policy: &str, spec: Value) {
        let mut s = json!({"policy": policy, "user": ALICE, "reason": "INC-1",
                           "requestedBy": "alice", "incident": {"id": "INC-1"}});
        json_patch::merge(&mut s, &spec);
        self.api.put(
            &grant_path(name),
            json!({"apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
                   "metadata": {"name": name, "namespace": NS, "generation": 1,
                                "finalizers": [FINALIZER],
                                "creationTimestamp": k8s_openapi::jiff::Timestamp::now().to_string()},
                   "spec": s}),
        );
    }

    /// The grant as the API server holds it now (`None` once deleted).
    pub(crate) fn stored(&self, name: &str) -> Option<BreakGlassGrant> {
        self.api
            .get(&grant_path(name))
            .map(|g| serde_json::from_value(g).expect("a grant"))
    }

    /// The grant, which must exist.
    pub(crate) fn held(&self, name: &str) -> BreakGlassGrant {
        self.stored(name).expect("the grant exists")
    }

    /// Merges `patch` into the stored grant (a requester's or an admin's change).
    pub(crate) fn edit(&self, name: &str, patch: Value) {
        let path = grant_path(name);
        let mut g = self.api.get(&path).expect("the grant exists");
        json_patch::merge(&mut g, &patch);
        self.api.put(&path, g);
    }

    /// Deletes the grant as the API server would: marked, kept while its finalizer is on.
    pub(crate) fn delete(&self, name: &str) {
        self.edit(
            name,
            json!({"metadata": {"deletionTimestamp": k8s_openapi::jiff::Timestamp::now().to_string()}}),
        );
    }

    /// One reconcile of the stored grant by `ctx` (a `Context` of this cluster).
    pub(crate) async fn pass_with(&self, ctx: &Arc<Context>, name: &str) -> Result<Action, Error> {
        let grant = Arc::new(self.held(name));
        tokio::time::timeout(Duration::from_secs(600), reconcile(grant, ctx.clone()))
            .await
            .expect("the reconcile finished")
    }

    /// One reconcile of the stored grant.
    pub(crate) async fn pass(&self, name: &str) -> Result<Action, Error> {
        self.pass_with(&self.ctx, name).await
    }

    /// Reconciles until the grant reaches `phase` (or is gone, for `None`), at most `passes`
    /// times; fails with the last error otherwise.
    pub(crate) async fn until(&self, name: &str, phase: Option<GrantPhase>, passes: usize) {
        let mut last = None;
        for _ in 0..passes {
            let now = self.stored(name).map(|g| g.status.and_then(|s| s.phase));
            match (now, phase) {
                (None, None) => return,
                (Some(p), Some(want)) if p == Some(want) => return,
                (None, Some(_)) => panic!("{name} is gone"),
                _ => {}
            }
            last = Some(self.pass(name).await);
        }
        let now = self.stored(name).map(|g| g.status);
        panic!("{name} did not reach {phase:?} in {passes} passes: {now:?}, last: {last:?}");
    }

    /// Whether Alice is in the group on AWS.
    pub(crate) fn alice_in_group(&self) -> bool {
        self.aws
            .group_members(STORE, &self.group)
            .contains(&self.alice)
    }

    /// The ledger's entries.
    pub(crate) fn ledger_entries(&self) -> Vec<Value> {
        self.api.list(&ledger_collection())
    }
}

/// The grant's condition of `type_`: (status, reason).
pub(crate) fn condition(g: &BreakGlassGrant, type_: &str) -> Option<(String, String)> {
    g.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

pub(crate) fn phase(g: &BreakGlassGrant) -> Option<GrantPhase> {
    g.status.as_ref().and_then(|s| s.phase)
}
