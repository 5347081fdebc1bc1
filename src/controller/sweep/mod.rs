//! The sweep: AWS is the truth. Every `--sweep-interval` each AWS target (a group) is
//! listed once, whatever the number of grants on it, and compared (`targets::compare`, pure)
//! with the grants and the ledger. Members the operator added that no grant backs are taken
//! back; members it never added are removed from `exclusive` groups and otherwise reported;
//! an Active grant whose member someone removed on AWS ends (`RevokedOnAws`), never re-added.
//!
//! Order matters: Active grants are read before the list (so a member missing from it was
//! there and got removed), the ledger and the holders after it (so anything the list shows
//! that the operator added has its record and its grant visible). Removals are confirmed on
//! a fresh read of the grants first; a grant is ended through an annotation its own
//! reconcile acts on, so no status write races the grant's pipeline.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use kube::{Api, ResourceExt, api::ListParams, runtime::reflector::Store};
use tracing::warn;

mod act;
mod discover;
mod pauses;
mod trigger;

pub use self::trigger::Trigger;
use self::{act::act, discover::discover};
use super::{context::Context, error::SweepError as Error, policies};
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy},
    aws::{self, Role},
    pause::orphan::Known,
    targets::{self, AccountTarget, Observed, Target},
    telemetry::Work,
};

/// Session name of the sweep's own changes (taking back orphans, exclusive groups).
pub const SWEEP_SESSION: &str = "breakglass-sweep";

pub struct Settings {
    pub interval: Duration,
    /// The grants' namespace when the controller watches only one: then only the groups
    /// its grants and ledger name are swept (other namespaces' grants are not visible).
    pub namespace: Option<String>,
    /// How long one AWS call may take at most: a member recorded less than this before a
    /// list may still be added after it.
    pub call_deadline: Duration,
}

/// A group to sweep: how to reach it, whether it is the operator's, and which policies
/// name it (they carry the `UnmanagedMembers` report).
struct Swept {
    aws: aws::ActAs,
    exclusive: bool,
    policies: Vec<BreakGlassPolicy>,
}

/// Runs until dropped (losing the lease drops it with the controller).
pub async fn run(
    ctx: Arc<Context>,
    grants: Store<BreakGlassGrant>,
    settings: Settings,
    unmanaged: policies::Unmanaged,
    trigger: Trigger,
) {
    if grants.wait_until_ready().await.is_err() {
        return;
    }
    let mut seen_unmanaged = BTreeSet::new();
    let mut known_pauses = Known::default();
    let vanished = trigger.clone();
    let mut sweep = async |only: Option<&BTreeSet<Target>>| match tracked(
        &ctx,
        once(
            &ctx,
            &grants,
            &settings,
            &unmanaged,
            &mut seen_unmanaged,
            {
                known_pauses.merge(vanished.take_pauses());
                &mut known_pauses
            },
            only,
        ),
    )
    .await
    {
        Ok(n) => {
            ctx.metrics.swept("ok");
            tracing::debug!(targets = n, triggered = only.is_some(), "sweep done");
        }
        Err(e) => {
            ctx.metrics.swept("error");
            warn!(error = %e, "sweep failed; trying again at the next one");
        }
    };
    loop {
        sweep(None).await;
        let next_full = tokio::time::sleep(settings.interval);
        tokio::pin!(next_full);
        loop {
            tokio::select! {
                () = &mut next_full => break,
                dirty = trigger.next() => sweep(Some(&dirty)).await,
            }
        }
    }
}

/// A sweep pass, tracked by the watchdog while it runs. Boxed: the pass is a deep future.
async fn tracked<T>(ctx: &Context, pass: impl Future<Output = T>) -> T {
    let _running = ctx.metrics.watchdog.start(Work::Sweep);
    Box::pin(pass).await
}

/// The kind of a target, as `breakglass_sweep_last_success_timestamp_seconds` names it.
fn kind(t: &Target) -> &'static str {
    match t {
        Target::Group(_) => "group",
        Target::Account(_) => "account",
    }
}

fn policy_error(source: kube::Error) -> Error {
    Error::Read {
        what: "listing policies",
        source,
    }
}

fn sweep_error(t: &Target, source: aws::Error) -> Error {
    Error::List {
        target: t.clone(),
        source,
    }
}

/// What AWS lists on a target: user id → membership id (empty for account assignments).
async fn list(
    ctx: &Context,
    t: &Target,
    swept: &Swept,
) -> Result<BTreeMap<String, String>, aws::Error> {
    match t {
        Target::Group(g) => {
            ctx.aws
                .store(&swept.aws, Role::Read)
                .await?
                .members(&g.group_id)
                .await
        }
        Target::Account(a) => Ok(ctx
            .aws
            .sso(&swept.aws, Role::Read)
            .await?
            .users(&assignment(a))
            .await?
            .into_iter()
            .map(|u| (u, String::new()))
            .collect()),
    }
}

pub(super) fn assignment(a: &AccountTarget) -> aws::Assignment {
    aws::Assignment {
        instance_arn: a.instance_arn.clone(),
        account_id: a.account_id.clone(),
        permission_set_arn: a.permission_set_arn.clone(),
    }
}

/// Ledger entries the sweep leaves alone, said on every full sweep (metric and log): a
/// forged or foreign entry, or one whose policy is gone and that no grant reaches. The
/// latter may be a member the operator added and can no longer take back: a person must.
fn report_ignored(ctx: &Context, foreign: &[String], unreachable: &[Target]) {
    ctx.metrics.ledger.ignored("foreign", foreign.len());
    ctx.metrics.ledger.ignored("unreachable", unreachable.len());
    if !foreign.is_empty() {
        warn!(entries = ?foreign, "ledger entries not under the name this installation computes: ignored (not written by this operator)");
    }
    for t in unreachable {
        warn!(target = %t, "the ledger records members here but no policy or grant names it any more: not swept; restore the policy or remove the members by hand");
    }
}

/// One full sweep remembering nothing from earlier ones: the in-process tests' entry.
#[cfg(test)]
pub(crate) async fn full(
    ctx: &Context,
    grants: &Store<BreakGlassGrant>,
    settings: &Settings,
) -> Result<usize, Error> {
    let (mut unmanaged, mut pauses) = (BTreeSet::new(), Known::default());
    let policies = policies::Unmanaged::default();
    once(
        ctx,
        grants,
        settings,
        &policies,
        &mut unmanaged,
        &mut pauses,
        None,
    )
    .await
}

/// One sweep over every target (or `only` those); returns how many were listed.
async fn once(
    ctx: &Context,
    grants: &Store<BreakGlassGrant>,
    settings: &Settings,
    unmanaged: &policies::Unmanaged,
    seen_unmanaged: &mut BTreeSet<(Target, String)>,
    known_pauses: &mut Known,
    only: Option<&BTreeSet<Target>>,
) -> Result<usize, Error> {
    let policies = Api::<BreakGlassPolicy>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(policy_error)?
        .items;
    let before = grants.state();
    let recorded = ctx
        .ledger
        .all()
        .await
        .map_err(|source| Error::Ledger { source })?;
    let discover::Discovered {
        mut found,
        mut failed,
        unreachable,
    } = discover(ctx, &policies, &before, &recorded, settings).await;
    if let Some(only) = only {
        found.retain(|t, _| only.contains(t));
    } else {
        report_ignored(ctx, &recorded.ignored, &unreachable);
    }
    let active_before = targets::active(before.iter().map(|g| targets::access(g)));
    drop(before);

    let mut lists = BTreeMap::new();
    let mut first_error = None;
    let listed_at = k8s_openapi::jiff::Timestamp::now();
    for (t, swept) in &found {
        match list(ctx, t, swept).await {
            Ok(members) => {
                lists.insert(t.clone(), members);
            }
            Err(e) => {
                warn!(target = %t, error = %e, "could not list the target");
                failed.insert(kind(t));
                first_error.get_or_insert(sweep_error(t, e));
            }
        }
    }
    let recorded = ctx
        .ledger
        .all()
        .await
        .map_err(|source| Error::Ledger { source })?;
    let holders_after = targets::holders(grants.state().iter().map(|g| targets::access(g)));

    let mut fresh: Option<targets::Holders> = None;
    let mut report: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, members) in lists.iter() {
        let Some(swept) = found.get(t) else { continue };
        let entries = recorded.by_target.get(t).cloned().unwrap_or_default();
        let observed = Observed {
            members: members.clone(),
            active_before: active_before.get(t).cloned().unwrap_or_default(),
            holders_after: holders_after.get(t).cloned().unwrap_or_default(),
            recorded: entries.keys().cloned().collect(),
            others: recorded.others.get(t).cloned().unwrap_or_default(),
            exclusive: swept.exclusive,
        };
        let drift = targets::compare(&observed);
        let ids: Vec<String> = if drift.remove_unmanaged {
            vec![]
        } else {
            drift.unmanaged.iter().map(|m| m.user_id.clone()).collect()
        };
        for p in &swept.policies {
            report.entry(p.name_any()).or_default().extend(ids.clone());
        }
        if drift.is_empty() {
            continue;
        }
        if let Err(e) = act(
            ctx,
            t,
            swept,
            &drift,
            &entries,
            &mut fresh,
            seen_unmanaged,
            settings,
            &policies,
            listed_at,
        )
        .await
        {
            warn!(target = %t, error = %e, "could not correct the target");
            failed.insert(kind(t));
            first_error.get_or_insert(e);
        }
    }
    policies::report_unmanaged(&ctx.client, &policies, unmanaged, report).await;
    // Remembered past the grant: one deleted without its finalizer is gone from the cache
    // (the trigger hands over what such a grant had paused). Forgotten once given back and
    // referenced by no grant in the cache, so the set does not only grow.
    let mut referenced = BTreeSet::new();
    for e in grants
        .state()
        .iter()
        .flat_map(|g| g.status.iter().flat_map(|s| s.paused_targets.clone()))
    {
        known_pauses.remember(&e);
        referenced.insert(e.target());
    }
    let (unread, settled) = pauses::sweep(ctx, &policies, known_pauses).await;
    known_pauses.prune(&settled, &referenced);
    if only.is_none() {
        let done = ["group", "account"]
            .into_iter()
            .filter(|k| !failed.contains(k));
        for k in done.chain((unread == 0).then_some("pause")) {
            ctx.metrics.sweep_succeeded(k);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(lists.len()),
    }
}
