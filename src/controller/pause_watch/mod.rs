//! Pause targets are watched, not polled (docs/pausing.md): one metadata-only watch per kind
//! the policies name, started when a policy names the kind and stopped when none does. A
//! change to a watched object — its generation, labels or annotations — reconciles the
//! grants it concerns at once; a grant whose targets' kinds are all watched and in sync
//! needs no periodic read of them (only the slow `--pause-recheck-interval`). API cost
//! follows changes, not grants.

pub(crate) mod health;
mod route;
mod set;

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, channel::mpsc::UnboundedSender};
use kube::{
    Api,
    api::{DynamicObject, PartialObjectMeta},
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use tracing::{debug, info, warn};

pub(crate) use breakglass_core::pause::watch::WatchedKind;

use self::{route::Seen, set::WatchSet};
use super::context::Context;
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy, TargetRef},
    pause::selections,
};

/// How often a kind that is not served (CRD not installed) is looked up again.
const KIND_RETRY: Duration = Duration::from_secs(10);

/// A grant to reconcile because a target changed.
pub(crate) type Trigger = UnboundedSender<ObjectRef<BreakGlassGrant>>;

/// How long grant changes are gathered before the kinds to watch are worked out again.
const GATHER: Duration = Duration::from_secs(1);

/// Follows the policies (and which of them the grants use) and keeps one watch per kind
/// they pause, until dropped (every kind's watch stops with it). `grants_changed` is
/// notified at each grant event.
pub(crate) async fn run(
    ctx: Arc<Context>,
    grants: Store<BreakGlassGrant>,
    grants_changed: Arc<tokio::sync::Notify>,
    trigger: Trigger,
) {
    let (policies, writer) = reflector::store();
    let mut events = watcher(
        Api::<BreakGlassPolicy>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .boxed();
    let mut watches = WatchSet::default();
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => return,
                Some(Err(e)) => {
                    warn!(error = %e, "policy watch failed (for the pause target watches)");
                    continue;
                }
                // Decide on whole lists only: a partial one would stop watches still needed.
                Some(Ok(watcher::Event::Init | watcher::Event::InitApply(_))) => continue,
                Some(Ok(_)) => {}
            },
            () = grants_changed.notified() => tokio::time::sleep(GATHER).await,
        }
        let wanted = route::wanted(&policies.state(), &grants.state());
        let (started, stopped) = watches.follow(&wanted, |kind| {
            let watch = watch_kind(
                ctx.clone(),
                kind.clone(),
                grants.clone(),
                policies.clone(),
                trigger.clone(),
            );
            set::Task(tokio::spawn(watch))
        });
        for kind in stopped {
            ctx.pause_watches.set(&kind, false);
            info!(kind = %kind, "no policy pauses this kind any more: stopped watching it");
        }
        for kind in started {
            info!(kind = %kind, "watching a kind policies pause");
        }
    }
}

/// One kind's metadata watch, across all namespaces: each change reconciles the grants it
/// concerns (route::concerned).
async fn watch_kind(
    ctx: Arc<Context>,
    kind: WatchedKind,
    grants: Store<BreakGlassGrant>,
    policies: Store<BreakGlassPolicy>,
    trigger: Trigger,
) {
    let resource = loop {
        match ctx
            .kinds
            .resource(&ctx.client, &kind.api_version, &kind.kind)
            .await
        {
            Ok(Some((ar, _))) => break ar,
            Ok(None) => debug!(kind = %kind, "kind not installed; looking again later"),
            Err(p) => warn!(kind = %kind, error = %p, "could not discover a paused kind"),
        }
        tokio::time::sleep(KIND_RETRY).await;
    };
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(ctx.client.clone(), &resource);
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut seen = Seen::default();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                ctx.pause_watches.set(&kind, false);
                warn!(kind = %kind, error = %e, "watch of a paused kind failed; its grants poll their targets until it is back (needs list and watch on it)");
                continue;
            }
        };
        let in_sync = !matches!(event, watcher::Event::Init | watcher::Event::InitApply(_));
        let changes = seen.observe(event);
        if !changes.is_empty() {
            let all = grants.state();
            let selections_of = |policy: &str| {
                policies
                    .get(&ObjectRef::new(policy))
                    .map(|p| selections(&p.spec))
                    .unwrap_or_default()
            };
            for change in changes {
                let target = TargetRef {
                    api_version: kind.api_version.clone(),
                    kind: kind.kind.clone(),
                    namespace: change.namespace.clone(),
                    name: change.name.clone(),
                };
                for grant in route::concerned(&target, &change, &all, selections_of) {
                    debug!(target = %target, grant = %grant, "paused target changed");
                    // The controller is gone only when this task is about to be dropped.
                    let _ = trigger.unbounded_send(grant);
                }
            }
        }
        if in_sync {
            ctx.pause_watches.set(&kind, true);
        }
    }
}
