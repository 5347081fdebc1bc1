//! AWS targets and the sweep's compare: pure, in `breakglass-core` (`breakglass_core::targets`,
//! re-exported here); this adds what they read of a grant object.

pub use breakglass_core::targets::*;

use crate::{api::BreakGlassGrant, plan};

/// What the sweep's holders and compare read of `grant`.
pub fn access(grant: &BreakGlassGrant) -> GrantAccess<'_> {
    GrantAccess {
        key: grant.key(),
        status: grant.status.as_ref(),
        may_hold: plan::may_hold_access(grant.status.as_ref()),
        resolved: grant.spec.resolved,
        deleting: grant.metadata.deletion_timestamp.is_some(),
        revoked_on_aws: plan::revoked_on_aws(grant),
    }
}
