//! Where a grant's accounts stand after a pass: `Active` once AWS confirmed every one,
//! still waiting (polled with backoff until a deadline), or failed (shown per account and
//! retried).

use crate::api::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::{controller::Action, events::EventType};
use tracing::{info, warn};

use super::set_entries;
use crate::{
    api::{AssignmentState, BreakGlassGrant, BreakGlassGrantStatus, GrantPhase, GrantedAssignment},
    assignments::{self, Overall},
    conditions::Outcome,
    controller::{
        context::{Context, key, seconds_between},
        error::Error,
        grant::{
            keep::{GiveError, keep},
            status::{publish, settle, write_status},
        },
    },
    pause::Selection,
};

#[allow(clippy::too_many_arguments)]
pub(super) async fn settle_giving(
    grant: &BreakGlassGrant,
    ctx: &Context,
    selections: &[Selection],
    mut status: BreakGlassGrantStatus,
    entries: &[GrantedAssignment],
    expires_at: Timestamp,
    now: &Time,
    held_back: bool,
) -> Result<Action, GiveError> {
    let me = key(grant);
    match assignments::giving(entries) {
        Overall::Assigned => {
            ctx.sso.polled_out(&me);
            let was_active = status.phase == Some(GrantPhase::Active);
            status.phase = Some(GrantPhase::Active);
            let accounts: Vec<&str> = entries.iter().map(|e| e.account_id.as_str()).collect();
            let msg = format!(
                "{} is assigned the permission set on {} until {expires_at}",
                grant.spec.user,
                accounts.join(", ")
            );
            settle(&mut status, grant, &Outcome::Active { message: &msg }, now);
            if !was_active {
                if let Some(created) = &grant.metadata.creation_timestamp {
                    ctx.metrics
                        .granted_after(seconds_between(created.0, Timestamp::now()));
                }
                info!(expires_at = %expires_at, "access granted on {}", accounts.join(", "));
                publish(ctx, grant, EventType::Normal, "Granted", "Grant", &msg).await;
            }
            keep(grant, ctx, selections, status, expires_at, now)
                .await
                .map_err(GiveError::Failed)
        }
        Overall::Assigning { pending } => {
            let msg = if held_back {
                format!(
                    "waiting for AWS on {}: at most {} assignments may be in progress per instance",
                    pending.join(", "),
                    crate::controller::sso_state::MAX_OUTSTANDING
                )
            } else {
                format!("waiting for AWS on {}", pending.join(", "))
            };
            settle(
                &mut status,
                grant,
                &Outcome::Granting { message: &msg },
                now,
            );
            if grant.status.as_ref() != Some(&status) {
                write_status(grant, ctx, &status).await?;
            }
            match ctx.sso.next_poll(&me) {
                Some(delay) => Ok(Action::requeue(delay)),
                None => {
                    // The deadline: AWS never finished. Recorded as failed, created again
                    // with backoff (AWS answers a create still in flight with a conflict).
                    let mut entries = entries.to_vec();
                    for e in entries
                        .iter_mut()
                        .filter(|e| e.state == AssignmentState::Pending)
                    {
                        e.state = AssignmentState::Failed;
                        e.request_id = None;
                        e.message = Some("still in progress after about 5 minutes".into());
                    }
                    set_entries(&mut status, &entries);
                    Err(assignment_failed(grant, ctx, status, &entries, now)
                        .await
                        .into())
                }
            }
        }
        Overall::Failed(_) => Err(assignment_failed(grant, ctx, status, entries, now)
            .await
            .into()),
        Overall::Removed | Overall::Removing { .. } => Ok(Action::await_change()),
    }
}

/// Shows AWS's failures on the grant (per account, with its reason) and returns the error
/// that retries with backoff.
async fn assignment_failed(
    grant: &BreakGlassGrant,
    ctx: &Context,
    mut status: BreakGlassGrantStatus,
    entries: &[GrantedAssignment],
    now: &Time,
) -> Error {
    let failures: Vec<String> = entries
        .iter()
        .filter(|e| e.state == AssignmentState::Failed)
        .map(|e| {
            format!(
                "{} ({})",
                e.account_id,
                e.message.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    let failures = failures.join(", ");
    let msg = format!("AWS failed the assignment on {failures}; retrying");
    let failed = Outcome::Failed {
        reason: "AssignmentFailed",
        message: &msg,
    };
    settle(&mut status, grant, &failed, now);
    if grant.status.as_ref() != Some(&status) {
        if let Err(e) = write_status(grant, ctx, &status).await {
            warn!(error = %e, "could not record the assignment failure on the grant");
        }
        publish(
            ctx,
            grant,
            EventType::Warning,
            "AssignmentFailed",
            "Grant",
            &msg,
        )
        .await;
    }
    Error::Assignment {
        grant: key(grant),
        failures,
    }
}
