//! The next step of a grant's lifecycle: pure, in `breakglass-core`
//! (`breakglass_core::plan`, re-exported here); this adds what planning reads of a grant
//! object.

pub use breakglass_core::plan::*;

use crate::api::BreakGlassGrant;

/// What planning reads of `grant`.
pub fn record(grant: &BreakGlassGrant) -> GrantRecord<'_> {
    GrantRecord {
        namespace: grant.metadata.namespace.as_deref().unwrap_or_default(),
        spec: &grant.spec,
        status: grant.status.as_ref(),
        revoked_on_aws: revoked_on_aws(grant),
    }
}

/// Whether the sweep marked `grant`'s access as removed on AWS by someone else
/// ([`REVOKED_ON_AWS`]: an annotation, so no status write from an older copy erases it).
pub fn revoked_on_aws(grant: &BreakGlassGrant) -> bool {
    grant
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(REVOKED_ON_AWS))
}

#[cfg(test)]
mod tests;
