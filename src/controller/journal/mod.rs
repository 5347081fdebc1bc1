//! The journal: the only code that writes a grant's status. A pass edits its copy of the
//! status and writes it at two kinds of point: a **checkpoint** before a side effect (the
//! window before the first AWS change, a request id before its answer is awaited, a pause's
//! original before the object is patched), so a crash after the change still finds what to
//! take back; and the pass's **commit** at its end, written only when it changed. Every write
//! is remembered (`own_writes::OwnWrites`): a reconcile of a copy older than our own write waits for the
//! cache, and the echo of our write needs no AWS call.

use crate::api::Time;
use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::reflector::ObjectRef,
};
use tracing::warn;

use super::{
    context::{Context, FIELD_MANAGER},
    error::Error,
};
use crate::{
    api::{BreakGlassGrant, BreakGlassGrantStatus},
    conditions::{self, Outcome},
};

/// One pass's record of one grant.
pub(crate) struct Journal<'p> {
    grant: &'p BreakGlassGrant,
    ctx: &'p Context,
    now: Time,
    status: BreakGlassGrantStatus,
}

/// This grant object, not another one made later under the same name.
pub(crate) fn instance(grant: &BreakGlassGrant) -> String {
    format!(
        "{}/{}/{}",
        grant.namespace().unwrap_or_default(),
        grant.name_any(),
        grant.uid().unwrap_or_default()
    )
}

impl<'p> Journal<'p> {
    /// Opens the record from the grant's status as this pass read it.
    pub(crate) fn open(grant: &'p BreakGlassGrant, ctx: &'p Context, now: Time) -> Self {
        Self {
            grant,
            ctx,
            now,
            status: grant.status.clone().unwrap_or_default(),
        }
    }

    pub(crate) fn status(&self) -> &BreakGlassGrantStatus {
        &self.status
    }

    pub(crate) fn status_mut(&mut self) -> &mut BreakGlassGrantStatus {
        &mut self.status
    }

    /// Records an outcome of the pass: the conditions it decides (one pure function,
    /// `conditions::apply`) and the generation they describe.
    pub(crate) fn settle(&mut self, outcome: &Outcome<'_>) {
        let generation = self.grant.metadata.generation;
        conditions::apply(&mut self.status.conditions, outcome, generation, &self.now);
        // Where the pauses stand says nothing about acting on the grant's spec.
        if !matches!(outcome, Outcome::Pauses(_)) {
            self.status.observed_generation = generation;
        }
    }

    /// Whether the record differs from the grant as this pass read it.
    pub(crate) fn changed(&self) -> bool {
        self.grant.status.as_ref() != Some(&self.status)
    }

    /// Write-ahead: the record as it stands, before the side effect that follows.
    pub(crate) async fn checkpoint(&mut self) -> Result<(), Error> {
        self.write().await.map_err(|source| Error::Checkpoint {
            grant: ObjectRef::from_obj(self.grant),
            source,
        })
    }

    /// The pass's final record, written when it changed; whether it was.
    pub(crate) async fn commit(&mut self) -> Result<bool, Error> {
        if !self.changed() {
            return Ok(false);
        }
        self.write().await.map_err(|source| Error::Status {
            grant: ObjectRef::from_obj(self.grant),
            source,
        })?;
        Ok(true)
    }

    /// The final record of a pass that failed: best effort (the failure is what the retry
    /// reports); whether it changed.
    pub(crate) async fn commit_failure(&mut self) -> bool {
        if !self.changed() {
            return false;
        }
        if let Err(e) = self.write().await {
            warn!(error = %e, "could not record the failure on the grant");
        }
        true
    }

    /// Access and pauses of this version of the grant were confirmed for this window: its
    /// echo needs no AWS call.
    pub(crate) fn confirm(&self, expires_at: Timestamp) {
        self.ctx.own_writes.confirm(
            &instance(self.grant),
            self.grant.metadata.resource_version.clone(),
            expires_at,
        );
    }

    async fn write(&mut self) -> Result<(), kube::Error> {
        let api: Api<BreakGlassGrant> = Api::namespaced(
            self.ctx.client.clone(),
            &self.grant.namespace().unwrap_or_default(),
        );
        let patch = serde_json::json!({
            "apiVersion": BreakGlassGrant::api_version(&()),
            "kind": BreakGlassGrant::kind(&()),
            "status": controller_owned(&self.status),
        });
        let written = api
            .patch_status(
                &self.grant.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        self.ctx.own_writes.wrote(
            &instance(self.grant),
            self.grant.metadata.resource_version.clone(),
            written.metadata.resource_version,
        );
        Ok(())
    }
}

/// The status without what others own: `alerts` (the webhook's), `sessions` and the
/// `SessionsRevoked` condition (the guard's). Left out of the apply, they are neither
/// claimed nor wiped; sent from a stale cached copy, they would undo the owner's last update
/// (server-side apply with force takes whatever it is given).
fn controller_owned(status: &BreakGlassGrantStatus) -> BreakGlassGrantStatus {
    BreakGlassGrantStatus {
        alerts: vec![],
        sessions: None,
        conditions: status
            .conditions
            .iter()
            .filter(|c| c.type_ != crate::conditions::SESSIONS_REVOKED)
            .cloned()
            .collect(),
        ..status.clone()
    }
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
