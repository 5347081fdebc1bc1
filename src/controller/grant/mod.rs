//! One grant's lifecycle as a pipeline: load (the grant and its policy) → plan (pure:
//! `plan::plan` for the step, `decide` for the effects of giving) → apply (`execute`, AWS and
//! pauses) → status, every write through the pass's journal.

mod assign;
mod assignment;
mod decide;
mod effect;
mod end;
mod execute;
mod give;
mod giving;
mod lookup;
mod pass;
mod pause;
#[cfg(test)]
mod tests_add_member;
mod unassign;

pub(crate) use lookup::target;

use crate::api::Time;
use k8s_openapi::jiff::Timestamp;
use kube::{Api, ResourceExt, runtime::controller::Action, runtime::reflector::ObjectRef};

use self::{
    end::{deny, end, review},
    give::give,
    giving::GiveError,
    pass::Pass,
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
    let policies: Api<BreakGlassPolicy> = Api::all(ctx.client.clone());
    let policy = policies
        .get_opt(&grant.spec.policy)
        .await
        .map_err(|source| Error::Load {
            grant: ObjectRef::from_obj(grant),
            what: "loading its policy",
            source,
        })?;
    let now = Timestamp::now();
    let pass = Pass::new(grant, policy.as_ref().map(|p| &*p.spec), ctx, Time(now));
    let step = plan::plan(&plan::record(grant), pass.policy, deleting, now);
    let span = tracing::info_span!("grant", namespace = %grant.namespace().unwrap_or_default(), name = %pass.name(), user = %grant.spec.user);
    let _enter = span.enter();
    match step {
        Step::Idle => Ok(Action::await_change()),
        Step::Deny(denial) => deny(&pass, &denial).await,
        Step::Grant {
            accepted,
            started_at,
            expires_at,
        } => {
            let Some(policy) = pass.policy else {
                return Ok(Action::await_change());
            };
            let eligibility = accepted.map(|a| a.eligibility);
            match give(&pass, policy, eligibility, (started_at, expires_at)).await {
                Ok(action) => Ok(action),
                Err(GiveError::Denied(denial)) => deny(&pass, &denial).await,
                Err(GiveError::Failed(e)) => Err(e),
            }
        }
        Step::End { reason, revoke } => end(&pass, reason, revoke).await,
        Step::Review => review(&pass).await,
    }
}
