//! `BreakGlassLedgerEntry`: the kube resource around breakglass-core's ledger entry spec.

// Repeated `type_ = "string"` arguments of kube's `printcolumn(...)` are not duplicates.
#![allow(clippy::duplicated_attributes)]

use std::ops::Deref;

use breakglass_core::LedgerEntrySpec;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// Cluster-scoped and in no category and no user role: only the operator writes it, and no
// namespace's ConfigMap writers can forge it. (No doc comment: schemars would make it the
// CRD's description of `spec`.)
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "breakglass.dev",
    version = "v1alpha1",
    kind = "BreakGlassLedgerEntry",
    plural = "breakglassledgerentries",
    derive = "PartialEq",
    doc = "The operator's record of one AWS group member or account assignment it added, so it can take it back even once the grant is gone. Written by the operator only.",
    printcolumn(name = "User", type_ = "string", json_path = ".spec.user"),
    printcolumn(name = "Grant", type_ = "string", json_path = ".spec.grant"),
    printcolumn(name = "Policy", type_ = "string", json_path = ".spec.policy"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(transparent)]
#[schemars(transparent)]
pub struct LedgerEntryObjectSpec(pub LedgerEntrySpec);

impl Deref for LedgerEntryObjectSpec {
    type Target = LedgerEntrySpec;
    fn deref(&self) -> &LedgerEntrySpec {
        &self.0
    }
}

impl From<LedgerEntrySpec> for LedgerEntryObjectSpec {
    fn from(spec: LedgerEntrySpec) -> Self {
        Self(spec)
    }
}
