//! Policy status: the operator checks each policy (pure, `policy::check`) and reports the
//! verdict in a `Ready` condition with `observedGeneration`, so `kubectl get`, Argo CD
//! health checks and alerts can tell an accepted policy from a broken one. A valid policy
//! whose group has members the operator never added (found by the sweep) is
//! `Ready=False`, reason `UnmanagedMembers`, naming them.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use crate::api::Time;
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{Controller, controller::Action, watcher},
};
use tracing::warn;

use super::{
    context::FIELD_MANAGER,
    error::{PolicyError as Error, backoff},
};
use crate::{
    api::{BreakGlassPolicy, BreakGlassPolicyStatus},
    conditions::{self, READY},
    policy,
};

/// Per policy, the Identity Store user ids of its group's unmanaged members (the sweep's
/// last finding), shared with the policy reconciler so both write the same status.
pub type Unmanaged = Arc<Mutex<BTreeMap<String, Vec<String>>>>;

/// Names shown in the condition at most; the count says how many more.
const SHOWN: usize = 10;

/// The status a policy should carry; `None` when it already does (no write, no new event).
/// `unmanaged`: the sweep's finding for the policy's group; `None` when this process has not
/// swept it (another replica's or namespace's finding then stays as it is).
pub fn desired_status(
    policy: &BreakGlassPolicy,
    unmanaged: Option<&[String]>,
    now: &Time,
) -> Option<BreakGlassPolicyStatus> {
    let generation = policy.metadata.generation;
    let mut status = policy.status.clone().unwrap_or_default();
    let reported = status
        .conditions
        .iter()
        .find(|c| c.type_ == READY && c.reason == "UnmanagedMembers")
        .map(|c| c.message.clone());
    let (ok, reason, message) = match (policy::check(&policy.spec), unmanaged) {
        (Ok(_), Some(users)) if !users.is_empty() => {
            let mut names = users[..users.len().min(SHOWN)].join(", ");
            if users.len() > SHOWN {
                names.push_str(&format!(" and {} more", users.len() - SHOWN));
            }
            (
                false,
                "UnmanagedMembers",
                format!(
                    "the group has members no grant gave and the operator never added (user ids): {names}; they are left alone, as the group is not exclusive"
                ),
            )
        }
        (Ok(_), None) if reported.is_some() => {
            (false, "UnmanagedMembers", reported.unwrap_or_default())
        }
        (Ok(summary), _) => (true, "Valid", summary),
        (Err(problem), _) => (false, problem.reason, problem.message),
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

fn unmanaged_of(unmanaged: &Unmanaged, policy: &str) -> Option<Vec<String>> {
    unmanaged.lock().ok().and_then(|m| m.get(policy).cloned())
}

/// Keeps the sweep's finding (an entry, maybe empty, for every policy it swept) and writes
/// the status of those policies where it changes.
pub async fn report_unmanaged(
    client: &Client,
    policies: &[BreakGlassPolicy],
    unmanaged: &Unmanaged,
    found: BTreeMap<String, Vec<String>>,
) {
    if let Ok(mut m) = unmanaged.lock() {
        *m = found.clone();
    }
    for p in policies {
        if let Some(users) = found.get(&p.name_any())
            && let Err(e) = write(client, p, Some(users.as_slice())).await
        {
            warn!(error = %e, "could not report unmanaged members on the policy");
        }
    }
}

async fn reconcile(
    policy: Arc<BreakGlassPolicy>,
    ctx: Arc<(Client, Unmanaged)>,
) -> Result<Action, Error> {
    let (client, unmanaged) = &*ctx;
    let found = unmanaged_of(unmanaged, &policy.name_any());
    write(client, &policy, found.as_deref()).await?;
    Ok(Action::await_change())
}

async fn write(
    client: &Client,
    policy: &BreakGlassPolicy,
    unmanaged: Option<&[String]>,
) -> Result<(), Error> {
    let Some(status) = desired_status(policy, unmanaged, &Time(Timestamp::now())) else {
        return Ok(());
    };
    let api: Api<BreakGlassPolicy> = Api::all(client.clone());
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
    .map_err(|source| Error::Status {
        policy: kube::runtime::reflector::ObjectRef::from_obj(policy),
        source,
    })?;
    Ok(())
}

fn error_policy(_: Arc<BreakGlassPolicy>, err: &Error, _: Arc<(Client, Unmanaged)>) -> Action {
    warn!(error = %err, "policy status update failed; retrying");
    Action::requeue(backoff(3))
}

/// Runs until the process is told to stop (or the future is dropped on losing the lease).
pub async fn run(client: Client, unmanaged: Unmanaged) {
    let policies: Api<BreakGlassPolicy> = Api::all(client.clone());
    Controller::new(policies, watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile, error_policy, Arc::new((client, unmanaged)))
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
        let first = desired_status(&p, None, &now).expect("first status");
        assert_eq!(first.observed_generation, Some(1));
        assert_eq!(first.conditions[0].status, "True");
        p.status = Some(first.clone());
        assert_eq!(
            desired_status(&p, None, &now),
            None,
            "no self-triggering writes"
        );
        p.metadata.generation = Some(2);
        let later = Time(Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(60));
        let second = desired_status(&p, None, &later).expect("new generation");
        assert_eq!(second.observed_generation, Some(2));
        assert_eq!(
            second.conditions[0].last_transition_time, first.conditions[0].last_transition_time,
            "the status did not flip, so the transition time stays"
        );
    }

    #[test]
    fn unmanaged_members_make_a_valid_policy_not_ready_naming_them() {
        let now = Time(Timestamp::now());
        let p = fixture(1);
        let many: Vec<String> = (0..12).map(|i| format!("u-{i}")).collect();
        let status = desired_status(&p, Some(&many), &now).expect("status");
        let ready = &status.conditions[0];
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "UnmanagedMembers")
        );
        assert!(ready.message.contains("u-0, u-1"), "{}", ready.message);
        assert!(ready.message.contains("and 2 more"), "{}", ready.message);
        let mut p = p;
        p.status = Some(status);
        assert_eq!(
            desired_status(&p, None, &now),
            None,
            "a process that did not sweep the group keeps the finding"
        );
        let cleared = desired_status(&p, Some(&[]), &now).expect("cleared");
        assert_eq!(cleared.conditions[0].reason, "Valid");
    }
}
