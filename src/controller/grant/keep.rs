//! What giving access comes to, whatever the access kind: denied after a look-up, failed,
//! or in place — then pauses are applied and the grant is looked at again at expiry.

use crate::api::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;

use super::{pause::pause_targets, status::write_status};
use crate::{
    api::{BreakGlassGrant, BreakGlassGrantStatus},
    controller::{
        context::{Context, instance},
        error::Error,
    },
    pause::Selection,
    plan,
    policy::Denial,
};

/// How often an Active grant's pauses are looked at again: a person re-enabling automation,
/// lost annotations or a target that failed show within this.
const PAUSE_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) enum GiveError {
    /// A look-up showed the grant is not allowed (eligibility by group membership).
    Denied(Denial),
    Failed(Error),
}

impl From<Error> for GiveError {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

/// Access is in place: pause what the policy names, record, and look again at expiry.
pub(super) async fn keep(
    grant: &BreakGlassGrant,
    ctx: &Context,
    selections: &[Selection],
    mut status: BreakGlassGrantStatus,
    expires_at: Timestamp,
    now: &Time,
) -> Result<Action, Error> {
    // Pausing comes after access: the person can act even if a target cannot be paused.
    let paused = pause_targets(grant, ctx, selections, &mut status, now).await;
    if grant.status.as_ref() != Some(&status) {
        write_status(grant, ctx, &status).await?;
    }
    paused?;
    ctx.confirm(
        &instance(grant),
        grant.metadata.resource_version.clone(),
        expires_at,
    );
    // From the clock, not `now`: AWS calls took time, and expiry must not wait for them.
    let next = plan::requeue_after(expires_at, Timestamp::now());
    let pauses = !selections.is_empty() || !status.paused_targets.is_empty();
    Ok(Action::requeue(if pauses {
        next.min(PAUSE_RECHECK)
    } else {
        next
    }))
}
