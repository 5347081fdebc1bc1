//! One grant's lifecycle as a pipeline: load (the grant and its policy) → plan (pure,
//! `plan::plan`) → apply (give, end or deny: AWS, pauses) → status (server-side apply).

mod assign;
mod end;
mod give;
mod keep;
mod lookup;
mod pause;
mod status;
mod unassign;

use k8s_openapi::jiff::Timestamp;
use kube::{Api, ResourceExt, runtime::controller::Action};

use self::{
    end::{deny, end, review},
    give::give,
    keep::GiveError,
};
use super::{context::Context, error::Error};
use crate::{
    api::BreakGlassGrant,
    api::BreakGlassPolicy,
    plan::{self, Step},
};

/// The reconcile pipeline for one grant.
pub(crate) async fn apply(
    grant: &BreakGlassGrant,
    ctx: &Context,
    deleting: bool,
) -> Result<Action, Error> {
    let ns = grant.namespace().unwrap_or_default();
    let name = grant.name_any();
    let policies: Api<BreakGlassPolicy> = Api::all(ctx.client.clone());
    let policy = policies
        .get_opt(&grant.spec.policy)
        .await
        .map_err(|source| Error::Load {
            action: "loading the policy of",
            namespace: ns.clone(),
            name: name.clone(),
            source,
        })?;
    let policy_spec = policy.as_ref().map(|p| &*p.spec);
    let now = Timestamp::now();
    let step = plan::plan(grant, policy_spec, deleting, now);
    let span = tracing::info_span!("grant", namespace = %ns, name = %name, user = %grant.spec.user);
    let _enter = span.enter();
    match step {
        Step::Idle => Ok(Action::await_change()),
        Step::Deny(denial) => deny(grant, ctx, &denial, now).await,
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
                now,
            )
            .await;
            match result {
                Ok(action) => Ok(action),
                Err(GiveError::Denied(denial)) => deny(grant, ctx, &denial, now).await,
                Err(GiveError::Failed(e)) => Err(e),
            }
        }
        Step::End { reason, revoke } => end(grant, ctx, policy_spec, reason, revoke, now).await,
        Step::Review => review(grant, ctx, now).await,
    }
}
