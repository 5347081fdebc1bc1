//! The session guard: AWS itself ends the access. For every guarded permission set it keeps
//! one Deny statement per user in the inline policy — effective after the latest expiry of
//! the user's Active grants, and, once the access ends, denying the sessions issued before
//! the end — provisioned to the accounts, and records on each grant where its guard stands.
//!
//! It runs beside the grant pipeline, from the same grant cache: every grant event wakes
//! it, and events that arrive together make one pass, so many grants changing at once make
//! one write and one provisioning per permission set. A pass looks at the permission sets
//! some grant waits on; every `interval` it checks all of them against AWS (a statement
//! removed by hand is written again; old cuts are pruned).

mod decide;
mod permission_set;
mod record;
mod scope;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use breakglass_core::sessions::Installation;
use futures::future::join_all;
use k8s_openapi::jiff::Timestamp;
use kube::{Api, ResourceExt, api::ListParams, runtime::reflector::Store};
use tokio::sync::Notify;
use tracing::{debug, warn};

pub(crate) use self::scope::holds_deletion;
use self::{
    decide::{PsKey, PsOutcome, PsWork, Scope, Seen, Want},
    permission_set::{PROVISIONING_DEADLINE, Provision},
};
use super::context::Context;
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy, GrantKey, SessionsStatus, Time},
    aws::{ActAs, Role},
};

/// Grant events closer together than this make one pass.
const GATHER: Duration = Duration::from_millis(250);

/// While some grant still waits (a provisioning in progress, a failure), the next pass.
const RETRY: Duration = Duration::from_secs(5);

/// How the guard runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Names this installation's statements (`Sid` prefix): several clusters or
    /// namespace-scoped installations may guard one permission set.
    pub installation: Installation,
    /// How often every guarded permission set is checked against AWS.
    pub interval: Duration,
}

/// Wakes the guard: a grant changed.
#[derive(Clone, Default)]
pub struct Trigger(Arc<Notify>);

impl Trigger {
    pub fn poke(&self) {
        self.0.notify_one();
    }
}

/// Runs the guard until dropped.
pub(crate) async fn run(
    ctx: Arc<Context>,
    store: Store<BreakGlassGrant>,
    settings: Settings,
    trigger: Trigger,
) {
    if store.wait_until_ready().await.is_err() {
        return;
    }
    let guard = Guard::new(ctx, store, settings);
    let mut full_due = tokio::time::Instant::now();
    loop {
        let full = tokio::time::Instant::now() >= full_due;
        if full {
            full_due = tokio::time::Instant::now() + guard.settings.interval;
        }
        let waiting = guard.pass(full).await;
        let wait = if waiting {
            RETRY
        } else {
            full_due.saturating_duration_since(tokio::time::Instant::now())
        };
        tokio::select! {
            () = trigger.0.notified() => tokio::time::sleep(GATHER).await,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The guard's state between passes: only caches (resolved permission sets); every
/// decision is made from the grants and AWS.
pub(crate) struct Guard {
    ctx: Arc<Context>,
    store: Store<BreakGlassGrant>,
    settings: Settings,
    resolved: scope::Resolved,
}

/// One permission set's part of a pass.
struct PsRun {
    key: PsKey,
    work: PsWork,
    act: ActAs,
}

impl Guard {
    pub(crate) fn new(
        ctx: Arc<Context>,
        store: Store<BreakGlassGrant>,
        settings: Settings,
    ) -> Self {
        Self {
            ctx,
            store,
            settings,
            resolved: scope::Resolved::default(),
        }
    }

    /// One pass (`full`: every guarded permission set, else those some grant waits on);
    /// whether some grant still waits on the guard.
    pub(crate) async fn pass(&self, full: bool) -> bool {
        let now = Timestamp::now();
        let policies = match Api::<BreakGlassPolicy>::all(self.ctx.client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(list) => list
                .items
                .into_iter()
                .map(|p| (p.name_any(), p.spec))
                .collect::<HashMap<_, _>>(),
            Err(e) => {
                warn!(error = %e, "session guard: listing policies failed; retrying");
                return true;
            }
        };
        let grants = self.store.state();
        let mut seen = Vec::with_capacity(grants.len());
        let mut acts: BTreeMap<PsKey, ActAs> = BTreeMap::new();
        for g in &grants {
            let policy = policies.get(&g.spec.policy).map(|p| &**p);
            let Some((s, act)) =
                scope::seen(&self.ctx, &self.resolved, self.settings.interval, g, policy).await
            else {
                continue;
            };
            if let (Scope::Guard(sets), Some(act)) = (&s.scope, act) {
                for ps in sets {
                    acts.entry(ps.clone()).or_insert_with(|| act.clone());
                }
            }
            seen.push(s);
        }
        let open: BTreeSet<PsKey> = seen
            .iter()
            .filter(|s| s.open())
            .filter_map(|s| match &s.scope {
                Scope::Guard(sets) => Some(sets.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect();
        let (work, held) = decide::plan(&seen, (!full).then_some(&open));
        let runs: Vec<PsRun> = work
            .into_iter()
            .filter_map(|(key, work)| {
                let act = acts.get(&key)?.clone();
                Some(PsRun { key, work, act })
            })
            .collect();
        let by_key: HashMap<GrantKey, &BreakGlassGrant> =
            grants.iter().map(|g| (g.key(), &**g)).collect();
        let results = join_all(runs.iter().map(|run| self.run(run, &seen, &by_key, now))).await;
        let mut outcomes: HashMap<GrantKey, BTreeMap<PsKey, PsOutcome>> = HashMap::new();
        for (run, (outcome, expired)) in runs.iter().zip(results) {
            for (grant, want) in &run.work.waiting {
                let outcome = match want {
                    Want::Revoked { .. } if expired.contains(grant) => {
                        PsOutcome::Provisioned { at: now }
                    }
                    _ => outcome.clone(),
                };
                outcomes
                    .entry(grant.clone())
                    .or_default()
                    .insert(run.key.clone(), outcome);
            }
        }
        let mut waiting = false;
        for s in &seen {
            let is_held = held.contains(&s.key);
            let mine = outcomes.remove(&s.key).unwrap_or_default();
            // Done already, or guarded by a set this pass did not look at: nothing to record.
            let unanswered = matches!(s.scope, Scope::Guard(_)) && mine.is_empty() && !is_held;
            if unanswered || !(s.open() || is_held) {
                continue;
            }
            let next = decide::record(s, &mine, is_held, now);
            if let (Some(next), Some(g)) = (next, by_key.get(&s.key)) {
                waiting |= still_waiting(&next);
                self.write(g, &next, now).await;
            } else {
                waiting |= s.sessions.as_ref().is_none_or(still_waiting);
            }
        }
        waiting
    }

    /// One permission set: write, provision, record a new provisioning on the grants that
    /// wait for it before awaiting it. Also which waiting Ended grants need no cut (their
    /// end is older than the set's session duration).
    async fn run(
        &self,
        run: &PsRun,
        seen: &[Seen],
        by_key: &HashMap<GrantKey, &BreakGlassGrant>,
        now: Timestamp,
    ) -> (PsOutcome, Vec<GrantKey>) {
        let sso = match self.ctx.aws.sso(&run.act, Role::Write).await {
            Ok(s) => s,
            Err(e) => {
                return (
                    PsOutcome::Failed {
                        reason: permission_set::reason(&e),
                        message: format!("acting on {}: {e}", run.key.permission_set_arn),
                    },
                    vec![],
                );
            }
        };
        let written = match permission_set::write(
            &sso,
            &self.settings.installation,
            &run.key,
            &run.work.users,
            !run.work.waiting.is_empty(),
            run.work.recorded_request.as_deref(),
            now,
        )
        .await
        {
            Ok(w) => w,
            Err(failed) => {
                self.failed(&failed);
                return (failed, vec![]);
            }
        };
        self.ctx
            .metrics
            .guard
            .statements(&run.key.permission_set_arn, written.statements);
        let expired: Vec<GrantKey> = run
            .work
            .waiting
            .iter()
            .filter_map(|(g, want)| match want {
                Want::Revoked { ended_at }
                    if decide::expired_cut(*ended_at, written.session_duration, now) =>
                {
                    Some(g.clone())
                }
                _ => None,
            })
            .collect();
        let asked = std::time::Instant::now();
        let outcome = match written.provision {
            Provision::Nothing => return (PsOutcome::Provisioned { at: now }, expired),
            Provision::Done(outcome) => outcome,
            Provision::Await { request_id, fresh } => {
                if fresh {
                    // Write-ahead: the request id is on every waiting grant before it is
                    // awaited, so a restart polls it instead of losing it.
                    let started = PsOutcome::InProgress {
                        request_id: request_id.clone(),
                    };
                    self.checkpoint(run, seen, by_key, &started, now).await;
                }
                permission_set::await_provisioning(
                    &sso,
                    &run.key,
                    &request_id,
                    PROVISIONING_DEADLINE,
                )
                .await
            }
        };
        match &outcome {
            PsOutcome::Provisioned { .. } => self
                .ctx
                .metrics
                .guard
                .provisioned_after(asked.elapsed().as_secs_f64()),
            PsOutcome::Failed { .. } => self.failed(&outcome),
            PsOutcome::InProgress { .. } => {}
        }
        (outcome, expired)
    }

    /// Records a provisioning in progress on the grants waiting for it.
    async fn checkpoint(
        &self,
        run: &PsRun,
        seen: &[Seen],
        by_key: &HashMap<GrantKey, &BreakGlassGrant>,
        started: &PsOutcome,
        now: Timestamp,
    ) {
        for (key, _) in &run.work.waiting {
            let (Some(s), Some(g)) = (seen.iter().find(|s| &s.key == key), by_key.get(key)) else {
                continue;
            };
            let outcomes = BTreeMap::from([(run.key.clone(), started.clone())]);
            if let Some(next) = decide::record(s, &outcomes, false, now) {
                self.write(g, &next, now).await;
            }
        }
    }

    fn failed(&self, outcome: &PsOutcome) {
        if let PsOutcome::Failed { reason, message } = outcome {
            warn!(reason, "session guard: {message}");
            self.ctx.metrics.guard.failed(reason);
        }
    }

    async fn write(&self, grant: &BreakGlassGrant, next: &SessionsStatus, now: Timestamp) {
        if let Err(e) = record::write(&self.ctx, grant, next, &Time(now)).await {
            // The next pass decides again from the cache.
            debug!(grant = %grant.key(), error = %e, "session guard: recording on the grant failed");
        }
    }
}

fn still_waiting(s: &SessionsStatus) -> bool {
    use crate::api::GuardState::{Failed, Pending, Revoking};
    matches!(s.state, Pending | Revoking | Failed)
}
