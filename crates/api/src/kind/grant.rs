//! `BreakGlassGrant`: the kube resource around breakglass-core's grant spec and status.

// Repeated `type_ = "string"` arguments of kube's `printcolumn(...)` are not duplicates.
#![allow(clippy::duplicated_attributes)]

use std::ops::{Deref, DerefMut};

use breakglass_core::{BreakGlassGrantSpec, GrantKey};
use kube::{CustomResource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// The grant spec as the kube object carries it: breakglass-core's `BreakGlassGrantSpec`,
// same JSON and schema (transparent), reached through `Deref`. (No doc comment: schemars
// would make it the CRD's description of `spec`.)
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "breakglass.dev",
    version = "v1alpha1",
    kind = "BreakGlassGrant",
    namespaced,
    shortname = "bgg",
    category = "breakglass",
    status = "breakglass_core::BreakGlassGrantStatus",
    derive = "PartialEq",
    // Lets a revocation list only the grants of one user (`spec.user=...`), not all grants.
    selectable = ".spec.user",
    doc = "Temporary break-glass access for one user under one BreakGlassPolicy, and the record of what was granted and paused.",
    printcolumn(name = "User", type_ = "string", json_path = ".spec.user"),
    printcolumn(name = "Policy", type_ = "string", json_path = ".spec.policy"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    // `date` columns render future times as "<invalid>": expiry is always in the future.
    printcolumn(name = "Expires", type_ = "string", json_path = ".status.expiresAt"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".spec.reason",
        priority = 1
    ),
    printcolumn(
        name = "Requested By",
        type_ = "string",
        json_path = ".spec.requestedBy",
        priority = 1
    ),
    printcolumn(
        name = "Incident",
        type_ = "string",
        json_path = ".spec.incident.id",
        priority = 1
    )
)]
#[serde(transparent)]
#[schemars(transparent)]
pub struct GrantObjectSpec(pub BreakGlassGrantSpec);

impl Deref for GrantObjectSpec {
    type Target = BreakGlassGrantSpec;
    fn deref(&self) -> &BreakGlassGrantSpec {
        &self.0
    }
}

impl DerefMut for GrantObjectSpec {
    fn deref_mut(&mut self) -> &mut BreakGlassGrantSpec {
        &mut self.0
    }
}

impl From<BreakGlassGrantSpec> for GrantObjectSpec {
    fn from(spec: BreakGlassGrantSpec) -> Self {
        Self(spec)
    }
}

impl BreakGlassGrant {
    /// This grant's identity: `namespace/name`.
    pub fn key(&self) -> GrantKey {
        GrantKey::new(self.namespace().unwrap_or_default(), self.name_any())
    }
}
