//! Alert storms: many alerts in one notification become few grants (one per policy, rule
//! and user), decided purely (`aggregate`, in `breakglass-core`) and written with bounded
//! concurrency (`write`).

pub use breakglass_core::alertmanager::aggregate;
pub mod grant;
pub mod write;

use kube::ResourceExt;

use self::aggregate::{GrantView, Known};
use crate::api::{BreakGlassGrant, time_from_k8s};

/// What the webhook knows of one of its grants, read from the object.
pub fn known(grant: &BreakGlassGrant) -> Known {
    let created = grant
        .metadata
        .creation_timestamp
        .as_ref()
        .map(time_from_k8s);
    Known::of(GrantView {
        namespace: grant.metadata.namespace.as_deref().unwrap_or_default(),
        name: &grant.name_any(),
        labels: grant.labels(),
        annotations: grant.annotations(),
        deleting: grant.metadata.deletion_timestamp.is_some(),
        created: created.as_ref(),
        spec: &grant.spec,
        status: grant.status.as_ref(),
    })
}

#[cfg(test)]
mod tests;
