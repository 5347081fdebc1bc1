//! The session guard's API: what a policy asks (`spec.access.sessions`) and what a grant
//! records (`status.sessions`). The guard writes Deny statements into guarded permission
//! sets' inline policies so AWS itself ends the access at expiry and cuts the sessions
//! issued before the end.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Time;

/// `spec.access.sessions` of a policy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionGuard {
    /// `Enforce` (default): AWS denies the user after the grant's expiry, and sessions issued
    /// before the end are cut. `Off`: only the membership or assignment is removed, and
    /// sessions already issued live on for the permission set's session duration.
    #[serde(default)]
    pub guard: GuardMode,
    /// `groupMembership` only: the permission sets (names or ARNs) the group's account
    /// assignments use. Omitted: discovered from the group's assignments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 256)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub permission_sets: Vec<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GuardMode {
    #[default]
    Enforce,
    Off,
}

/// Where a grant's guard stands.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum GuardState {
    /// Access is in place; the expiry statement is being written and provisioned.
    Pending,
    /// AWS denies the user after `expiresAt` by itself (provisioned).
    Enforced,
    /// Access ended; the statement cutting earlier sessions is being written and provisioned.
    Revoking,
    /// Sessions issued before the end are denied (provisioned at `revokedAt`).
    Revoked,
    /// Nothing guarded (see `reason`: `GuardOff`, `StandingAccess`, `StillHeld`,
    /// `NoPermissionSets`, `NeverActive`).
    Skipped,
    /// The guard could not be written or provisioned (see `reason`); the grant itself
    /// proceeds: break-glass does not fail closed on its guard. Retried.
    Failed,
}

/// `status.sessions` of a grant: written only by the guard (the grant pipeline leaves it
/// out of its status writes).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionsStatus {
    pub state: GuardState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the denial of the sessions issued before the end was provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Time>,
    /// Per guarded permission set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub permission_sets: Vec<GuardedPermissionSet>,
}

/// One guarded permission set of a grant.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GuardedPermissionSet {
    pub instance_arn: String,
    pub permission_set_arn: String,
    pub state: GuardState,
    /// The last ProvisionPermissionSet request for this grant's statement, recorded before
    /// it is awaited (polled after a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When AWS confirmed the provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
