//! Controller wiring: watches grants (and the policies they name) and runs each grant's
//! lifecycle as a pipeline: load → plan (pure) → apply (AWS) → status (server-side apply).

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    runtime::{
        Controller,
        controller::Action,
        events::{Event, EventType, Recorder, Reporter},
        finalizer::{Event as Finalizer, finalizer},
        reflector::ObjectRef,
        watcher,
    },
};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::{
    api::{
        AwsSession, BreakGlassGrant, BreakGlassGrantStatus, BreakGlassPolicy, BreakGlassPolicySpec,
        EndReason, GrantPhase, GrantedAccess, GrantedMembership,
    },
    aws::{self, Aws, Store, Target},
    conditions::{self, AUTOMATION_PAUSED, GRANTED, READY, STALLED},
    pause::{self, Selection, grant as pausing},
    plan::{self, Step},
    policy::{Denial, Eligibility},
    telemetry::Metrics,
};

pub mod policies;

pub const FINALIZER: &str = "breakglass.dev/revoke-access";
pub const FIELD_MANAGER: &str = "breakglass-controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} grant {namespace}/{name}: {source}")]
    Kube {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("grant {namespace}/{name}: {source}")]
    Aws {
        namespace: String,
        name: String,
        #[source]
        source: aws::Error,
    },
    #[error("grant {0}: {1}")]
    Finalizer(String, String),
    #[error("grant {0}: status does not record what was granted, so it cannot be revoked")]
    NoRecord(String),
    #[error("grant {grant}: pausing automation: {source}")]
    Pause {
        grant: String,
        #[source]
        source: pause::apply::Error,
    },
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "KubernetesError",
            Self::Aws { source, .. } => source.reason(),
            Self::Finalizer(..) => "FinalizerError",
            Self::NoRecord(_) => "NoRecord",
            Self::Pause { .. } => "PauseFailed",
        }
    }
}

/// What the controller shares across reconciles.
pub struct Context {
    pub client: Client,
    pub aws: Aws,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per grant, for capped exponential backoff.
    failures: std::sync::Mutex<HashMap<String, u32>>,
    /// Serializes grant/revoke for one user, so overlapping grants cannot undo each other.
    user_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Per Active grant: the window it was last fully confirmed for (access on AWS, pauses),
    /// and when. The reconciles that follow within moments are the echoes of our own status
    /// writes (often of an older version still in the cache) and need no AWS call.
    confirmed: std::sync::Mutex<HashMap<String, (Timestamp, Instant)>>,
    /// Identity Store group ids by (store, display name): stable, so looked up once.
    group_ids: std::sync::Mutex<HashMap<(String, String), String>>,
}

/// How long a confirmation spares the echo of our own write; well below the periodic
/// re-check, which therefore always calls AWS.
const ECHO_WINDOW: Duration = Duration::from_secs(30);

impl Context {
    pub fn new(client: Client, aws: Aws, metrics: Arc<Metrics>) -> Self {
        let reporter = Reporter {
            controller: "breakglass-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            metrics,
            failures: Default::default(),
            user_locks: Default::default(),
            confirmed: Default::default(),
            group_ids: Default::default(),
        }
    }

    fn confirm(&self, key: String, expires_at: Timestamp) {
        if let Ok(mut map) = self.confirmed.lock() {
            map.insert(key, (expires_at, Instant::now()));
        }
    }

    /// Whether the grant was confirmed for this same window moments ago.
    fn just_confirmed(&self, key: &str, expires_at: Timestamp) -> bool {
        let Ok(mut map) = self.confirmed.lock() else {
            return false;
        };
        map.retain(|_, (_, at)| at.elapsed() < ECHO_WINDOW);
        map.get(key).is_some_and(|(e, _)| *e == expires_at)
    }

    fn cached_group_id(&self, store: &str, name: &str) -> Option<String> {
        let map = self.group_ids.lock().ok()?;
        map.get(&(store.to_owned(), name.to_owned())).cloned()
    }

    fn cache_group_id(&self, store: &str, name: &str, id: Option<&str>) {
        if let Ok(mut map) = self.group_ids.lock() {
            let key = (store.to_owned(), name.to_owned());
            match id {
                Some(id) => map.insert(key, id.to_owned()),
                None => map.remove(&key),
            };
        }
    }

    async fn user_lock(&self, key: &str) -> Arc<Mutex<()>> {
        self.user_locks
            .lock()
            .await
            .entry(key.to_owned())
            .or_default()
            .clone()
    }
}

/// Runs the controller until the process is told to stop. `namespace` limits the grants
/// watched (policies are cluster-scoped and always watched). Dropping the future stops
/// all work at once: every step is safe to interrupt and is redone by the next leader.
pub async fn run(client: Client, aws: Aws, metrics: Arc<Metrics>, namespace: Option<String>) {
    let grants: Api<BreakGlassGrant> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let policies: Api<BreakGlassPolicy> = Api::all(client.clone());
    let policy_status = policies::run(client.clone());
    let ctx = Arc::new(Context::new(client, aws, metrics.clone()));
    let controller = Controller::new(grants, watcher::Config::default());
    let store = controller.store();
    let _published = StorePublished::new(metrics, store.clone());
    let grant_lifecycle = controller
        .watches(policies, watcher::Config::default(), move |policy| {
            let name = policy.name_any();
            store
                .state()
                .into_iter()
                .filter(|g| g.spec.policy == name)
                .map(|g| ObjectRef::from_obj(&*g))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                warn!(error = %err, "reconcile failed");
            }
        });
    futures::future::join(grant_lifecycle, policy_status).await;
}

/// Lends the grant cache to the metrics while the controller runs (the leader's gauges).
struct StorePublished(Arc<Metrics>);

impl StorePublished {
    fn new(metrics: Arc<Metrics>, store: kube::runtime::reflector::Store<BreakGlassGrant>) -> Self {
        metrics.observe_grants(Some(store));
        Self(metrics)
    }
}

impl Drop for StorePublished {
    fn drop(&mut self) {
        self.0.observe_grants(None);
    }
}

fn key(grant: &BreakGlassGrant) -> String {
    format!(
        "{}/{}",
        grant.namespace().unwrap_or_default(),
        grant.name_any()
    )
}

/// This grant object, not another one made later under the same name.
fn instance(grant: &BreakGlassGrant) -> String {
    format!("{}/{}", key(grant), grant.uid().unwrap_or_default())
}

async fn reconcile(grant: Arc<BreakGlassGrant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = grant.namespace().unwrap_or_default();
    let api: Api<BreakGlassGrant> = Api::namespaced(ctx.client.clone(), &ns);
    let id = key(&grant);
    ctx.metrics.reconciled();
    let result = finalizer(&api, FINALIZER, grant, |event| async {
        match event {
            Finalizer::Apply(g) => apply(&g, &ctx, false).await,
            Finalizer::Cleanup(g) => apply(&g, &ctx, true).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(id.clone(), other.to_string()),
    });
    if result.is_ok()
        && let Ok(mut failures) = ctx.failures.lock()
    {
        failures.remove(&id);
    }
    result
}

fn error_policy(grant: Arc<BreakGlassGrant>, err: &Error, ctx: Arc<Context>) -> Action {
    let id = key(&grant);
    let attempt = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(id.clone()).or_default();
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = backoff(attempt);
    ctx.metrics.reconcile_error(err.reason());
    warn!(grant = %id, attempt, retry_in = ?delay, error = %err, "reconcile failed; retrying");
    Action::requeue(delay)
}

/// 1s, 2s, 4s … capped at one minute.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// Everything needed to act on AWS for this grant, from the policy or, once granted, from
/// the grant's own record (so a deleted policy does not block revocation).
fn target(grant: &BreakGlassGrant, policy: Option<&BreakGlassPolicySpec>) -> Option<Target> {
    let session_name = aws::session_name(&grant.namespace().unwrap_or_default(), &grant.name_any());
    let status = grant.status.as_ref();
    let recorded = status
        .and_then(|s| s.aws.as_ref())
        .zip(status.and_then(|s| s.access.as_ref()?.group_membership.as_ref()));
    if let Some((session, membership)) = recorded {
        return Some(Target {
            role_arn: session.role_arn.clone(),
            external_id: session.external_id.clone(),
            region: session.region.clone(),
            identity_store_id: membership.identity_store_id.clone(),
            session_name,
        });
    }
    policy.map(|p| Target {
        role_arn: p.aws.role_arn.clone(),
        external_id: p.aws.external_id.clone(),
        region: p.aws.region.clone(),
        identity_store_id: p.aws.identity_store_id.clone(),
        session_name,
    })
}

/// The reconcile pipeline for one grant.
async fn apply(grant: &BreakGlassGrant, ctx: &Context, deleting: bool) -> Result<Action, Error> {
    let ns = grant.namespace().unwrap_or_default();
    let name = grant.name_any();
    let policies: Api<BreakGlassPolicy> = Api::all(ctx.client.clone());
    let policy = policies
        .get_opt(&grant.spec.policy)
        .await
        .map_err(|source| Error::Kube {
            action: "loading the policy of",
            namespace: ns.clone(),
            name: name.clone(),
            source,
        })?;
    let policy_spec = policy.as_ref().map(|p| &p.spec);
    let now = Timestamp::now();
    let step = plan::plan(grant, policy_spec, deleting, now);
    let span = tracing::info_span!("grant", namespace = %ns, name = %name, user = %grant.spec.user);
    let _enter = span.enter();
    match step {
        Step::Idle => Ok(Action::await_change()),
        Step::Deny(denial) => deny(grant, ctx, &denial).await,
        Step::Grant {
            accepted,
            started_at,
            expires_at,
        } => {
            let Some(policy_spec) = policy_spec else {
                return Ok(Action::await_change());
            };
            let result = give(
                grant,
                ctx,
                policy_spec,
                accepted.map(|a| a.eligibility),
                started_at,
                expires_at,
            )
            .await;
            match result {
                Ok(action) => Ok(action),
                Err(GiveError::Denied(denial)) => deny(grant, ctx, &denial).await,
                Err(GiveError::Failed(e)) => Err(e),
            }
        }
        Step::End { reason, revoke } => end(grant, ctx, policy_spec, reason, revoke).await,
    }
}

enum GiveError {
    Denied(Denial),
    Failed(Error),
}

impl From<Error> for GiveError {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

fn aws_error(grant: &BreakGlassGrant, source: aws::Error) -> Error {
    Error::Aws {
        namespace: grant.namespace().unwrap_or_default(),
        name: grant.name_any(),
        source,
    }
}

fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

/// Stops with a failpoint when `BREAKGLASS_FAILPOINT` names it: the process stays alive but
/// this reconcile never continues, so a test can SIGKILL it at exactly this point.
async fn failpoint(name: &str) {
    if std::env::var("BREAKGLASS_FAILPOINT").is_ok_and(|f| f == name) {
        eprintln!("failpoint reached: {name}");
        std::future::pending::<()>().await;
    }
}

async fn give(
    grant: &BreakGlassGrant,
    ctx: &Context,
    policy: &BreakGlassPolicySpec,
    eligibility: Option<Eligibility>,
    started_at: Timestamp,
    expires_at: Timestamp,
) -> Result<Action, GiveError> {
    let Some(target) = target(grant, Some(policy)) else {
        return Ok(Action::await_change());
    };
    let mut status = grant.status.clone().unwrap_or_default();
    let generation = grant.metadata.generation;
    let now = time(Timestamp::now());
    let first = status.expires_at.is_none();

    let Some(group) = &policy.access.group_membership else {
        // Account assignments arrive in a later release; say so, without touching AWS.
        let msg = "accountAssignment access is not supported yet; use groupMembership";
        set_stalled(&mut status, generation, &now, "Unsupported", msg);
        write_status(grant, ctx, &status).await?;
        return Ok(Action::await_change());
    };

    if ctx.just_confirmed(&instance(grant), expires_at) {
        return Ok(Action::requeue(plan::requeue_after(
            expires_at,
            Timestamp::now(),
        )));
    }
    let selections = pause::selections(policy);
    if first && let Some(wait) = wait_for_required(grant, ctx, &selections, &mut status).await? {
        return Ok(wait);
    }

    let client = match ctx.aws.store(&target).await {
        Ok(c) => c,
        Err(e) => return Err(fail(grant, ctx, status, e).await.into()),
    };
    let store = Store {
        client: &client,
        identity_store_id: &target.identity_store_id,
    };
    // Ids recorded by an earlier pass are stable: an active grant's periodic reconcile only
    // re-checks the membership itself.
    let recorded = status.user_id.clone().zip(
        status
            .access
            .as_ref()
            .and_then(|a| a.group_membership.as_ref())
            .filter(|m| m.identity_store_id == target.identity_store_id)
            .map(|m| m.group_id.clone()),
    );
    let (user_id, group_id) = match recorded {
        Some(ids) => ids,
        None => {
            let user_id = match store.user_id(&grant.spec.user).await {
                Ok(u) => u,
                Err(e) => return Err(fail(grant, ctx, status, e).await.into()),
            };
            let group_id = match (&group.group_id, &group.group_name) {
                (Some(id), _) => id.clone(),
                (None, Some(name)) => match ctx.cached_group_id(&target.identity_store_id, name) {
                    Some(id) => id,
                    None => match store.group_id(name).await {
                        Ok(id) => {
                            ctx.cache_group_id(&target.identity_store_id, name, Some(&id));
                            id
                        }
                        Err(e) => return Err(fail(grant, ctx, status, e).await.into()),
                    },
                },
                (None, None) => return Ok(Action::await_change()),
            };
            (user_id, group_id)
        }
    };
    if let Some(Eligibility::ByGroup(groups)) = &eligibility {
        match store.member_of_any(&user_id, groups).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(GiveError::Denied(Denial::UserNotEligible {
                    user: grant.spec.user.clone(),
                    policy: grant.spec.policy.clone(),
                }));
            }
            Err(e) => return Err(fail(grant, ctx, status, e).await.into()),
        }
    }

    // Record the window and the session before the first AWS change: a crash after the
    // change still leaves the expiry, and what to revoke, on the grant.
    status.user_id = Some(user_id.clone());
    status.aws = Some(AwsSession {
        role_arn: target.role_arn.clone(),
        session_name: target.session_name.clone(),
        region: target.region.clone(),
        external_id: target.external_id.clone(),
    });
    let mut access = status.access.clone().unwrap_or(GrantedAccess {
        group_membership: None,
        account_assignments: vec![],
    });
    let membership_id = access
        .group_membership
        .as_ref()
        .and_then(|m| m.membership_id.clone());
    access.group_membership = Some(GrantedMembership {
        identity_store_id: target.identity_store_id.clone(),
        group_id: group_id.clone(),
        membership_id,
    });
    status.access = Some(access.clone());
    status.granted_at = Some(time(started_at));
    status.expires_at = Some(time(expires_at));
    if first {
        status.phase = Some(GrantPhase::Pending);
        conditions::set(
            &mut status.conditions,
            GRANTED,
            false,
            "Granting",
            "adding the user to the group",
            generation,
            &now,
        );
        conditions::set(
            &mut status.conditions,
            READY,
            false,
            "Granting",
            "adding the user to the group",
            generation,
            &now,
        );
        write_status(grant, ctx, &status).await?;
    }

    let lock = ctx.user_lock(&user_id).await;
    let guard = lock.lock().await;
    let membership = match store.ensure_membership(&group_id, &user_id).await {
        Ok(m) => m,
        Err(e) => {
            drop(guard);
            if let Some(name) = &group.group_name {
                // The group may have been replaced: look its id up again next time.
                ctx.cache_group_id(&target.identity_store_id, name, None);
            }
            return Err(fail(grant, ctx, status, e).await.into());
        }
    };
    drop(guard);
    failpoint("after-create-membership").await;

    let was_active = status.phase == Some(GrantPhase::Active);
    access.group_membership = Some(GrantedMembership {
        identity_store_id: target.identity_store_id.clone(),
        group_id: group_id.clone(),
        membership_id: Some(membership.clone()),
    });
    status.access = Some(access);
    status.phase = Some(GrantPhase::Active);
    let msg = format!(
        "{} is a member of group {group_id} until {expires_at}",
        grant.spec.user
    );
    conditions::set(
        &mut status.conditions,
        GRANTED,
        true,
        "Granted",
        &msg,
        generation,
        &now,
    );
    conditions::set(
        &mut status.conditions,
        READY,
        true,
        "Active",
        &msg,
        generation,
        &now,
    );
    conditions::set(
        &mut status.conditions,
        STALLED,
        false,
        "Active",
        "",
        generation,
        &now,
    );
    status.observed_generation = generation;
    if !was_active {
        if let Some(created) = &grant.metadata.creation_timestamp {
            ctx.metrics
                .granted_after(seconds_between(created.0, Timestamp::now()));
        }
        info!(membership = %membership, expires_at = %expires_at, "access granted");
        publish(ctx, grant, EventType::Normal, "Granted", "Grant", &msg).await;
    }
    // Pausing comes after access: the person can act even if a target cannot be paused.
    let paused = pause_targets(grant, ctx, &selections, &mut status).await;
    if grant.status.as_ref() != Some(&status) {
        write_status(grant, ctx, &status).await?;
    }
    paused?;
    ctx.confirm(instance(grant), expires_at);
    Ok(Action::requeue(plan::requeue_after(
        expires_at,
        Timestamp::now(),
    )))
}

/// Before any AWS change: when a `required` pause target does not exist, the grant waits
/// (Pending, no access) and looks again shortly.
async fn wait_for_required(
    grant: &BreakGlassGrant,
    ctx: &Context,
    selections: &[Selection],
    status: &mut BreakGlassGrantStatus,
) -> Result<Option<Action>, Error> {
    let required: Vec<Selection> = selections.iter().filter(|s| s.required).cloned().collect();
    if required.is_empty() {
        return Ok(None);
    }
    let work = pausing::survey(&ctx.client, &required, &key(grant), FIELD_MANAGER)
        .await
        .map_err(|source| Error::Pause {
            grant: key(grant),
            source,
        })?;
    let Some(msg) = pausing::missing_required(&work) else {
        return Ok(None);
    };
    let missing: Vec<pausing::Work> = work
        .into_iter()
        .filter(|w| w.found.object.is_err())
        .collect();
    pausing::record_intent(&mut status.paused_targets, &missing);
    let generation = grant.metadata.generation;
    let now = time(Timestamp::now());
    status.phase = Some(GrantPhase::Pending);
    for type_ in [AUTOMATION_PAUSED, READY] {
        conditions::set(
            &mut status.conditions,
            type_,
            false,
            "WaitingForRequiredTarget",
            &msg,
            generation,
            &now,
        );
    }
    status.observed_generation = generation;
    if grant.status.as_ref() != Some(status) {
        write_status(grant, ctx, status).await?;
        publish(ctx, grant, EventType::Warning, "Waiting", "Pause", &msg).await;
    }
    Ok(Some(Action::requeue(Duration::from_secs(5))))
}

/// Pauses what the policy names, recording each original on the grant before the object is
/// patched. Leaves `status` describing the outcome, also on error.
async fn pause_targets(
    grant: &BreakGlassGrant,
    ctx: &Context,
    selections: &[Selection],
    status: &mut BreakGlassGrantStatus,
) -> Result<(), Error> {
    if selections.is_empty() && status.paused_targets.is_empty() {
        return Ok(());
    }
    let me = key(grant);
    let generation = grant.metadata.generation;
    let now = time(Timestamp::now());
    let pause_error = |source| Error::Pause {
        grant: me.clone(),
        source,
    };
    let outcome = async {
        let work = pausing::survey(&ctx.client, selections, &me, FIELD_MANAGER)
            .await
            .map_err(pause_error)?;
        if pausing::record_intent(&mut status.paused_targets, &work) {
            write_status(grant, ctx, status).await?;
            failpoint("after-record-pause").await;
        }
        pausing::execute(
            &ctx.client,
            &work,
            &mut status.paused_targets,
            FIELD_MANAGER,
        )
        .await
        .map_err(pause_error)
    }
    .await;
    let (on, reason, msg) = pausing::condition(&status.paused_targets);
    match &outcome {
        Ok(_) => conditions::set(
            &mut status.conditions,
            AUTOMATION_PAUSED,
            on,
            reason,
            &msg,
            generation,
            &now,
        ),
        Err(e) => conditions::set(
            &mut status.conditions,
            AUTOMATION_PAUSED,
            on,
            "PauseFailed",
            format!("{msg}; {e}; retrying"),
            generation,
            &now,
        ),
    }
    for note in pausing::merge(outcome?) {
        publish_note(ctx, grant, &note, "Pause").await;
    }
    Ok(())
}

/// After access is removed: give back every pause this grant holds.
async fn restore_targets(
    grant: &BreakGlassGrant,
    ctx: &Context,
    status: &mut BreakGlassGrantStatus,
) -> Result<(), Error> {
    if status.paused_targets.is_empty() {
        return Ok(());
    }
    let me = key(grant);
    let live = live_grants(&list_grants(grant, ctx, None).await?);
    let now = Timestamp::now();
    let notes = pausing::restore(
        &ctx.client,
        &mut status.paused_targets,
        &me,
        &live,
        &now.to_string(),
        FIELD_MANAGER,
    )
    .await
    .map_err(|source| Error::Pause { grant: me, source })?;
    conditions::set(
        &mut status.conditions,
        AUTOMATION_PAUSED,
        false,
        "Restored",
        pausing::restored_summary(&status.paused_targets),
        grant.metadata.generation,
        &time(now),
    );
    for note in pausing::merge(notes) {
        publish_note(ctx, grant, &note, "Restore").await;
    }
    Ok(())
}

/// Grants in the cluster (those of `user` only, when given), from the API server rather than
/// the watch cache: decisions about shared access and shared pauses must not act on stale
/// state.
async fn list_grants(
    grant: &BreakGlassGrant,
    ctx: &Context,
    user: Option<&str>,
) -> Result<Vec<BreakGlassGrant>, Error> {
    let all: Api<BreakGlassGrant> = Api::all(ctx.client.clone());
    let params = match user {
        Some(u) => ListParams::default().fields(&format!("spec.user={}", field_value(u))),
        None => ListParams::default(),
    };
    all.list(&params)
        .await
        .map(|l| l.items)
        .map_err(|source| Error::Kube {
            action: "listing the grants that share access or pauses with",
            namespace: grant.namespace().unwrap_or_default(),
            name: grant.name_any(),
            source,
        })
}

/// The grants of this grant's user: the only ones that can share its access. A field
/// selector keeps a revocation's cost independent of how many grants exist.
async fn list_user_grants(
    grant: &BreakGlassGrant,
    ctx: &Context,
) -> Result<Vec<BreakGlassGrant>, Error> {
    list_grants(grant, ctx, Some(&grant.spec.user)).await
}

/// A field selector value with its separators escaped, as apimachinery's `EscapeValue`.
fn field_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
}

/// Keys of grants that still count as holders of a pause: not Ended or Denied.
fn live_grants(grants: &[BreakGlassGrant]) -> BTreeSet<String> {
    grants
        .iter()
        .filter(|g| {
            !g.status
                .as_ref()
                .is_some_and(|s| matches!(s.phase, Some(GrantPhase::Ended | GrantPhase::Denied)))
        })
        .map(key)
        .collect()
}

async fn end(
    grant: &BreakGlassGrant,
    ctx: &Context,
    policy: Option<&BreakGlassPolicySpec>,
    reason: EndReason,
    revoke: bool,
) -> Result<Action, Error> {
    let mut status = grant.status.clone().unwrap_or_default();
    let generation = grant.metadata.generation;
    let now = time(Timestamp::now());
    // When the end became due, as far as the record tells; otherwise when it was noticed.
    let due = match reason {
        EndReason::Expired => status.expires_at.as_ref().map(|t| t.0),
        EndReason::Deleted => grant.metadata.deletion_timestamp.as_ref().map(|t| t.0),
        EndReason::Resolved | EndReason::PolicyDeleted => None,
    }
    .unwrap_or(now.0);
    let mut note = format!("grant ended ({reason:?})");
    if revoke {
        let membership = status
            .access
            .as_ref()
            .and_then(|a| a.group_membership.clone());
        let (Some(target), Some(membership), Some(user_id)) =
            (target(grant, policy), membership, status.user_id.clone())
        else {
            return Err(Error::NoRecord(key(grant)));
        };
        let lock = ctx.user_lock(&user_id).await;
        let _guard = lock.lock().await;
        let same_user = list_user_grants(grant, ctx).await?;
        let holders = other_holders(grant, &same_user, &user_id, &membership);
        if holders.is_empty() {
            let client = match ctx.aws.store(&target).await {
                Ok(c) => c,
                Err(e) => return Err(fail(grant, ctx, status, e).await),
            };
            let store = Store {
                client: &client,
                identity_store_id: &target.identity_store_id,
            };
            if let Err(e) = store
                .remove_membership(
                    &membership.group_id,
                    &user_id,
                    membership.membership_id.as_deref(),
                )
                .await
            {
                ctx.aws.forget(&target).await;
                return Err(fail(grant, ctx, status, e).await);
            }
            note = format!(
                "{note}; removed {} from group {}",
                grant.spec.user, membership.group_id
            );
        } else {
            note = format!(
                "{note}; access kept: still granted by {}",
                holders.join(", ")
            );
        }
    }
    if let Err(e) = restore_targets(grant, ctx, &mut status).await {
        // Keep what was already restored, so the retry does not misreport it.
        if let Err(w) = write_status(grant, ctx, &status).await {
            warn!(error = %w, "could not record restore progress on the grant");
        }
        return Err(e);
    }
    status.phase = Some(GrantPhase::Ended);
    status.end_reason = Some(reason);
    status.ended_at = Some(now.clone());
    conditions::set(
        &mut status.conditions,
        GRANTED,
        false,
        &format!("{reason:?}"),
        &note,
        generation,
        &now,
    );
    conditions::set(
        &mut status.conditions,
        READY,
        false,
        "Ended",
        &note,
        generation,
        &now,
    );
    conditions::set(
        &mut status.conditions,
        STALLED,
        false,
        "Ended",
        "",
        generation,
        &now,
    );
    status.observed_generation = generation;
    write_status(grant, ctx, &status).await?;
    ctx.metrics.revoked_after(
        &format!("{reason:?}"),
        seconds_between(due, Timestamp::now()),
    );
    info!(reason = ?reason, "{note}");
    publish(ctx, grant, EventType::Normal, "Ended", "Revoke", &note).await;
    Ok(Action::await_change())
}

/// Other grants that still give this user this membership.
fn other_holders(
    grant: &BreakGlassGrant,
    grants: &[BreakGlassGrant],
    user_id: &str,
    membership: &GrantedMembership,
) -> Vec<String> {
    let now = Timestamp::now();
    grants
        .iter()
        .filter(|g| g.uid() != grant.uid())
        .filter(|g| g.meta().deletion_timestamp.is_none() && !g.spec.resolved)
        .filter(|g| {
            g.status.as_ref().is_some_and(|s| {
                s.phase == Some(GrantPhase::Active)
                    && s.user_id.as_deref() == Some(user_id)
                    && s.expires_at.as_ref().is_some_and(|e| e.0 > now)
                    && s.access
                        .as_ref()
                        .and_then(|a| a.group_membership.as_ref())
                        .is_some_and(|m| {
                            m.group_id == membership.group_id
                                && m.identity_store_id == membership.identity_store_id
                        })
            })
        })
        .map(key)
        .collect()
}

async fn deny(grant: &BreakGlassGrant, ctx: &Context, denial: &Denial) -> Result<Action, Error> {
    let mut status = grant.status.clone().unwrap_or_default();
    let generation = grant.metadata.generation;
    let now = time(Timestamp::now());
    let msg = denial.to_string();
    status.phase = Some(GrantPhase::Denied);
    conditions::set(
        &mut status.conditions,
        READY,
        false,
        "Denied",
        &msg,
        generation,
        &now,
    );
    conditions::set(
        &mut status.conditions,
        GRANTED,
        false,
        "Denied",
        &msg,
        generation,
        &now,
    );
    set_stalled(&mut status, generation, &now, denial.reason(), &msg);
    write_status(grant, ctx, &status).await?;
    info!(reason = denial.reason(), "grant denied: {msg}");
    publish(ctx, grant, EventType::Warning, "Denied", "Evaluate", &msg).await;
    Ok(Action::await_change())
}

fn set_stalled(
    status: &mut BreakGlassGrantStatus,
    generation: Option<i64>,
    now: &Time,
    reason: &str,
    msg: &str,
) {
    conditions::set(
        &mut status.conditions,
        STALLED,
        true,
        reason,
        msg,
        generation,
        now,
    );
    status.observed_generation = generation;
}

/// Records an AWS failure on the grant (best effort) and returns it for the retry.
async fn fail(
    grant: &BreakGlassGrant,
    ctx: &Context,
    mut status: BreakGlassGrantStatus,
    err: aws::Error,
) -> Error {
    let generation = grant.metadata.generation;
    let now = time(Timestamp::now());
    let msg = format!("{err}; retrying");
    conditions::set(
        &mut status.conditions,
        READY,
        false,
        err.reason(),
        &msg,
        generation,
        &now,
    );
    if grant.status.as_ref() != Some(&status)
        && let Err(e) = write_status(grant, ctx, &status).await
    {
        warn!(error = %e, "could not record the AWS failure on the grant");
    }
    aws_error(grant, err)
}

async fn write_status(
    grant: &BreakGlassGrant,
    ctx: &Context,
    status: &BreakGlassGrantStatus,
) -> Result<(), Error> {
    let ns = grant.namespace().unwrap_or_default();
    let api: Api<BreakGlassGrant> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({
        "apiVersion": BreakGlassGrant::api_version(&()),
        "kind": BreakGlassGrant::kind(&()),
        "status": status,
    });
    api.patch_status(
        &grant.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Kube {
        action: "writing the status of",
        namespace: ns,
        name: grant.name_any(),
        source,
    })
}

async fn publish_note(ctx: &Context, grant: &BreakGlassGrant, note: &pausing::Note, action: &str) {
    let type_ = if note.warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    publish(ctx, grant, type_, note.reason, action, &note.message).await;
}

async fn publish(
    ctx: &Context,
    grant: &BreakGlassGrant,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1024).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &grant.object_ref(&())).await {
        warn!(error = %e, "could not publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::field_value;

    #[test]
    fn field_selector_values_escape_their_separators() {
        assert_eq!(field_value("alice@example.com"), "alice@example.com");
        assert_eq!(field_value(r"a,b=c\d"), r"a\,b\=c\\d");
    }
}
