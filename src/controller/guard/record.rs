//! Writing a grant's `status.sessions` and its `SessionsRevoked` condition: the guard's
//! own server-side apply (field manager `breakglass-guard`), which owns only these, so the
//! grant pipeline's writes and the guard's never undo each other. Events on transitions.

use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::EventType,
};
use serde_json::json;

use crate::{
    api::{BreakGlassGrant, Condition, GuardState, SessionsStatus, Time},
    conditions,
    controller::context::Context,
};

pub(crate) const FIELD_MANAGER: &str = "breakglass-guard";

/// Records `next` on the grant, with the condition that mirrors it and an Event when its
/// state changed.
pub(crate) async fn write(
    ctx: &Context,
    grant: &BreakGlassGrant,
    next: &SessionsStatus,
    now: &Time,
) -> Result<(), kube::Error> {
    let before = grant.status.as_ref().and_then(|s| s.sessions.as_ref());
    let condition = condition(grant, next, now);
    let patch = json!({
        "apiVersion": "breakglass.dev/v1alpha1",
        "kind": "BreakGlassGrant",
        "status": { "sessions": next, "conditions": [condition] },
    });
    let api: Api<BreakGlassGrant> =
        Api::namespaced(ctx.client.clone(), &grant.namespace().unwrap_or_default());
    api.patch_status(
        &grant.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    if before.map(|b| b.state) != Some(next.state) {
        announce(ctx, grant, next).await;
    }
    Ok(())
}

/// `SessionsRevoked`: True once the sessions issued before the end are denied.
fn condition(grant: &BreakGlassGrant, next: &SessionsStatus, now: &Time) -> Condition {
    let mut existing: Vec<Condition> = grant
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let reason = match next.state {
        GuardState::Skipped | GuardState::Failed => next
            .reason
            .clone()
            .unwrap_or_else(|| state_name(next.state)),
        state => state_name(state),
    };
    conditions::set(
        &mut existing,
        conditions::SESSIONS_REVOKED,
        next.state == GuardState::Revoked,
        &reason,
        message(next),
        grant.metadata.generation,
        now,
    );
    existing
        .into_iter()
        .find(|c| c.type_ == conditions::SESSIONS_REVOKED)
        .expect("just set")
}

fn state_name(state: GuardState) -> String {
    format!("{state:?}")
}

fn message(s: &SessionsStatus) -> String {
    if let Some(m) = &s.message {
        return m.clone();
    }
    match s.state {
        GuardState::Pending => "the expiry statement is being provisioned".into(),
        GuardState::Enforced => {
            "AWS denies the user after expiresAt; open sessions are cut at the end".into()
        }
        GuardState::Revoking => "the statement cutting open sessions is being provisioned".into(),
        GuardState::Revoked => "sessions issued before the end are denied".into(),
        GuardState::Skipped | GuardState::Failed => String::new(),
    }
}

async fn announce(ctx: &Context, grant: &BreakGlassGrant, next: &SessionsStatus) {
    let (type_, reason, note) = match next.state {
        GuardState::Enforced => (
            EventType::Normal,
            "SessionGuardWritten",
            "AWS will deny the user after the grant's expiry".to_owned(),
        ),
        GuardState::Revoked => (
            EventType::Normal,
            "SessionsRevoked",
            "sessions issued before the end are denied".to_owned(),
        ),
        GuardState::Failed => (EventType::Warning, "SessionGuardFailed", message(next)),
        _ => return,
    };
    ctx.publish(&grant.object_ref(&()), type_, reason, "Guard", &note)
        .await;
}
