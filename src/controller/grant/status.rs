//! Writing the record: the status (server-side apply), failures shown on the grant, Events.

use crate::api::Time;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::EventType,
};
use tracing::warn;

use crate::{
    api::{BreakGlassGrant, BreakGlassGrantStatus},
    aws,
    conditions::{self, Outcome},
    controller::{
        context::{Context, FIELD_MANAGER, instance},
        error::Error,
    },
    pause::executor as pausing,
};

pub(crate) fn aws_error(grant: &BreakGlassGrant, source: aws::Error) -> Error {
    Error::Aws {
        namespace: grant.namespace().unwrap_or_default(),
        name: grant.name_any(),
        source,
    }
}

/// Records a step's outcome: its conditions (one pure function decides them) and the
/// generation they describe.
pub(crate) fn settle(
    status: &mut BreakGlassGrantStatus,
    grant: &BreakGlassGrant,
    outcome: &Outcome<'_>,
    now: &Time,
) {
    let generation = grant.metadata.generation;
    conditions::apply(&mut status.conditions, outcome, generation, now);
    status.observed_generation = generation;
}

/// Records an AWS failure on the grant (best effort) and returns it for the retry.
pub(crate) async fn fail(
    grant: &BreakGlassGrant,
    ctx: &Context,
    mut status: BreakGlassGrantStatus,
    err: aws::Error,
    now: &Time,
) -> Error {
    let msg = format!("{err}; retrying");
    // Stalled until a retry succeeds (which clears it): an alert can tell a grant whose
    // access cannot be given or taken back.
    let failed = Outcome::Failed {
        reason: err.reason(),
        message: &msg,
    };
    settle(&mut status, grant, &failed, now);
    if grant.status.as_ref() != Some(&status) {
        if let Err(e) = write_status(grant, ctx, &status).await {
            warn!(error = %e, "could not record the AWS failure on the grant");
        }
        publish(ctx, grant, EventType::Warning, err.reason(), "Aws", &msg).await;
    }
    aws_error(grant, err)
}

/// The status without `alerts`: the webhook owns that field. Left out of the apply, it is
/// neither claimed nor wiped; sent from a stale cached copy, it would undo the webhook's
/// last update (server-side apply with force takes whatever it is given).
fn controller_owned(status: &BreakGlassGrantStatus) -> BreakGlassGrantStatus {
    BreakGlassGrantStatus {
        alerts: vec![],
        ..status.clone()
    }
}

pub(crate) async fn write_status(
    grant: &BreakGlassGrant,
    ctx: &Context,
    status: &BreakGlassGrantStatus,
) -> Result<(), Error> {
    let ns = grant.namespace().unwrap_or_default();
    let api: Api<BreakGlassGrant> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({
        "apiVersion": BreakGlassGrant::api_version(&()),
        "kind": BreakGlassGrant::kind(&()),
        "status": controller_owned(status),
    });
    api.patch_status(
        &grant.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|written| {
        ctx.wrote(
            &instance(grant),
            grant.metadata.resource_version.clone(),
            written.metadata.resource_version,
        )
    })
    .map_err(|source| Error::Status {
        action: "writing the status of",
        namespace: ns,
        name: grant.name_any(),
        source,
    })
}

pub(crate) async fn publish_note(
    ctx: &Context,
    grant: &BreakGlassGrant,
    note: &pausing::Note,
    action: &str,
) {
    let type_ = if note.warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    publish(ctx, grant, type_, note.reason, action, &note.message).await;
}

pub(crate) async fn publish(
    ctx: &Context,
    grant: &BreakGlassGrant,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    ctx.publish(&grant.object_ref(&()), type_, reason, action, note)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AlertState, GrantAlert, GrantPhase};

    #[test]
    fn the_controllers_status_apply_leaves_the_webhooks_alerts_out() {
        let status = BreakGlassGrantStatus {
            phase: Some(GrantPhase::Active),
            alerts: vec![GrantAlert {
                fingerprint: "c6b4d2a1f0e9d8c7".into(),
                starts_at: "2026-11-21T10:00:00Z".into(),
                state: AlertState::Firing,
            }],
            ..BreakGlassGrantStatus::default()
        };
        let applied = serde_json::to_value(controller_owned(&status)).expect("json");
        assert!(applied.get("alerts").is_none(), "{applied}");
        assert_eq!(applied["phase"], "Active");
    }
}
