//! Who else holds this access: the other grants whose record still gives the same user the
//! same membership or account assignment (pure, from grants read fresh by the caller).

use k8s_openapi::jiff::Timestamp;
use kube::{Resource, ResourceExt};

use crate::api::{BreakGlassGrant, BreakGlassGrantStatus, GrantKey, GrantPhase};

/// Other grants that still give this user the access `gives` finds in their record: Active,
/// unexpired, not being deleted or resolved, recorded for the same user id. The one
/// definition of "who else holds this access" (a membership, an account assignment).
pub(crate) fn holders(
    grant: &BreakGlassGrant,
    grants: &[BreakGlassGrant],
    user_id: &str,
    now: Timestamp,
    gives: impl Fn(&BreakGlassGrantStatus) -> bool,
) -> Vec<GrantKey> {
    grants
        .iter()
        .filter(|g| g.uid() != grant.uid())
        .filter(|g| g.meta().deletion_timestamp.is_none() && !g.spec.resolved)
        .filter(|g| {
            g.status.as_ref().is_some_and(|s| {
                s.phase == Some(GrantPhase::Active)
                    && s.user_id.as_deref() == Some(user_id)
                    && s.expires_at.as_ref().is_some_and(|e| e.0 > now)
                    && gives(s)
            })
        })
        .map(|g| g.key())
        .collect()
}

/// The grants, as a note names them.
pub(crate) fn names(keys: &[GrantKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
