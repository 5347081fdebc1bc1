//! Policy status: the operator checks each policy (pure, `policy::check`) and reports the
//! verdict in a `Ready` condition with `observedGeneration`, so `kubectl get`, Argo CD
//! health checks and alerts can tell an accepted policy from a broken one.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{Controller, controller::Action, watcher},
};
use tracing::warn;

use super::{
    context::FIELD_MANAGER,
    error::{Error, backoff},
};
use crate::{
    api::{BreakGlassPolicy, BreakGlassPolicyStatus},
    conditions::{self, READY},
    policy,
};

/// The status a policy should carry; `None` when it already does (no write, no new event).
pub fn desired_status(policy: &BreakGlassPolicy, now: &Time) -> Option<BreakGlassPolicyStatus> {
    let generation = policy.metadata.generation;
    let mut status = policy.status.clone().unwrap_or_default();
    let (ok, reason, message) = match policy::check(&policy.spec) {
        Ok(summary) => (true, "Valid", summary),
        Err(problem) => (false, problem.reason, problem.message),
    };
    conditions::set(
        &mut status.conditions,
        READY,
        ok,
        reason,
        message,
        generation,
        now,
    );
    status.observed_generation = generation;
    (policy.status.as_ref() != Some(&status)).then_some(status)
}

async fn reconcile(policy: Arc<BreakGlassPolicy>, client: Arc<Client>) -> Result<Action, Error> {
    let Some(status) = desired_status(&policy, &Time(Timestamp::now())) else {
        return Ok(Action::await_change());
    };
    let api: Api<BreakGlassPolicy> = Api::all((*client).clone());
    let patch = serde_json::json!({
        "apiVersion": BreakGlassPolicy::api_version(&()),
        "kind": BreakGlassPolicy::kind(&()),
        "status": status,
    });
    api.patch_status(
        &policy.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|source| Error::Kube {
        action: "writing the status of policy",
        namespace: String::new(),
        name: policy.name_any(),
        source,
    })?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<BreakGlassPolicy>, err: &Error, _: Arc<Client>) -> Action {
    warn!(error = %err, "policy status update failed; retrying");
    Action::requeue(backoff(3))
}

/// Runs until the process is told to stop (or the future is dropped on losing the lease).
pub async fn run(client: Client) {
    let policies: Api<BreakGlassPolicy> = Api::all(client.clone());
    Controller::new(policies, watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile, error_policy, Arc::new(client))
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(generation: i64) -> BreakGlassPolicy {
        let mut p: BreakGlassPolicy =
            serde_yaml::from_str(include_str!("../../tests/fixtures/policy.yaml"))
                .expect("fixture");
        p.metadata.generation = Some(generation);
        p
    }

    #[test]
    fn a_checked_policy_is_not_rewritten_and_a_new_generation_is() {
        let now = Time(Timestamp::now());
        let mut p = fixture(1);
        let first = desired_status(&p, &now).expect("first status");
        assert_eq!(first.observed_generation, Some(1));
        assert_eq!(first.conditions[0].status, "True");
        p.status = Some(first.clone());
        assert_eq!(desired_status(&p, &now), None, "no self-triggering writes");
        p.metadata.generation = Some(2);
        let later = Time(Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(60));
        let second = desired_status(&p, &later).expect("new generation");
        assert_eq!(second.observed_generation, Some(2));
        assert_eq!(
            second.conditions[0].last_transition_time, first.conditions[0].last_transition_time,
            "the status did not flip, so the transition time stays"
        );
    }
}
