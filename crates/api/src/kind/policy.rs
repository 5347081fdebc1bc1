//! `BreakGlassPolicy`: the kube resource around breakglass-core's policy spec and status.

// Repeated `type_ = "string"` arguments of kube's `printcolumn(...)` are not duplicates.
#![allow(clippy::duplicated_attributes)]

use std::ops::{Deref, DerefMut};

use breakglass_core::BreakGlassPolicySpec;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// The policy spec as the kube object carries it: breakglass-core's `BreakGlassPolicySpec`,
// same JSON and schema (transparent), reached through `Deref`. (No doc comment: schemars
// would make it the CRD's description of `spec`.)
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "breakglass.dev",
    version = "v1alpha1",
    kind = "BreakGlassPolicy",
    plural = "breakglasspolicies",
    shortname = "bgp",
    category = "breakglass",
    status = "breakglass_core::BreakGlassPolicyStatus",
    derive = "PartialEq",
    doc = "Who may break glass, into which AWS IAM Identity Center access, for how long, and which automation to pause meanwhile.",
    printcolumn(
        name = "Access",
        type_ = "string",
        json_path = ".spec.access.groupMembership.groupName",
        description = "Identity Store group granted"
    ),
    printcolumn(
        name = "Default",
        type_ = "string",
        json_path = ".spec.duration.default"
    ),
    printcolumn(name = "Max", type_ = "string", json_path = ".spec.duration.max"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether the operator accepted the policy"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(transparent)]
#[schemars(transparent)]
pub struct PolicyObjectSpec(pub BreakGlassPolicySpec);

impl Deref for PolicyObjectSpec {
    type Target = BreakGlassPolicySpec;
    fn deref(&self) -> &BreakGlassPolicySpec {
        &self.0
    }
}

impl DerefMut for PolicyObjectSpec {
    fn deref_mut(&mut self) -> &mut BreakGlassPolicySpec {
        &mut self.0
    }
}

impl From<BreakGlassPolicySpec> for PolicyObjectSpec {
    fn from(spec: BreakGlassPolicySpec) -> Self {
        Self(spec)
    }
}
