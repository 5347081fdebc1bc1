//! `BreakGlassGrant`: one person's emergency access under one policy, and the record of
//! everything the operator did for it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    Condition, PausedTarget, SessionsStatus, Time,
    validation::{Rule, at_most_a_day, immutable, not_blank, positive_go_duration},
};

// What a grant asks for; `breakglass-api` makes it the spec of the `BreakGlassGrant` kind.
// (No doc comment: it would become the CRD's description of `spec`.)
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [Rule::new(
    "has(self.requestedBy) == has(oldSelf.requestedBy)",
    "requestedBy cannot be added or removed after creation",
), Rule::new(
    "!has(oldSelf.incident) || has(self.incident)",
    "incident cannot be removed once set (it is the record)",
)]))]
pub struct BreakGlassGrantSpec {
    /// Name of the BreakGlassPolicy this grant is made under.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [immutable("policy")]))]
    pub policy: String,

    /// Identity Store user name of the person to grant.
    #[schemars(length(max = 128))]
    #[schemars(extend("x-kubernetes-validations" = [immutable("user"), not_blank("user")]))]
    pub user: String,

    /// Why access is needed; kept as the record, so immutable.
    #[schemars(length(max = 1024))]
    #[schemars(extend("x-kubernetes-validations" = [not_blank("reason"), immutable("reason")]))]
    pub reason: String,

    /// How long access lasts (Go duration, ≤ 24h); the policy default when omitted, capped
    /// by the policy max.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [positive_go_duration(), at_most_a_day()]))]
    pub duration: Option<String>,

    /// The incident this access is for; may be added later, immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [immutable("incident")]))]
    pub incident: Option<Incident>,

    /// accountAssignment policies only: the accounts to assign on, a subset of the
    /// policy's (all of them when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), inner(regex(pattern = r"^[0-9]{12}$")))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(extend("x-kubernetes-validations" = [immutable("accountIds")]))]
    pub account_ids: Option<Vec<String>>,

    /// The Kubernetes username of whoever created the grant. Checked at admission by the
    /// chart's ValidatingAdmissionPolicy (it must be the creating user) and immutable; the
    /// operator denies a grant without it (`RequesterUnknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [immutable("requestedBy")]))]
    pub requested_by: Option<String>,

    /// Set to true to end the grant early. A resolved grant cannot be reopened.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-validations" = [Rule::new(
        "self || !oldSelf",
        "a resolved grant cannot be reopened; create a new grant",
    )]))]
    pub resolved: bool,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// Incident identifier, e.g. INC-4211.
    #[schemars(length(min = 1, max = 128))]
    #[schemars(extend("x-kubernetes-validations" = [not_blank("incident.id")]))]
    pub id: String,

    /// Link to the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), regex(pattern = r"^https?://"))]
    pub url: Option<String>,

    /// Who opened the grant.
    #[serde(default)]
    pub source: IncidentSource,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IncidentSource {
    #[default]
    Manual,
    Alertmanager,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantPhase {
    /// Accepted, access not yet confirmed by AWS.
    Pending,
    /// The user has the access.
    Active,
    /// Access removed and automation restored; kept as the record.
    Ended,
    /// Refused by the policy; nothing was changed.
    Denied,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// `spec.resolved` was set, or the alert resolved.
    Resolved,
    /// `expiresAt` passed.
    Expired,
    /// The grant was deleted while active.
    Deleted,
    /// Its policy was deleted.
    PolicyDeleted,
    /// Its policy changed so that the grant would now be denied (user no longer eligible,
    /// namespace no longer allowed, incident now required), or its access kind or target
    /// (Identity Store, group) changed.
    PolicyChanged,
    /// Its access was removed on AWS by someone else while it was Active; the operator does
    /// not add it back.
    RevokedOnAws,
}

/// Observed state of a grant: the record of everything the operator did for it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassGrantStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<GrantPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    /// Identity Store user ID of `spec.user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_at: Option<Time>,
    /// When access ends at the latest; written when access is granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Time>,
    /// What was granted on AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<GrantedAccess>,
    /// The STS session that made the AWS changes, to find them in CloudTrail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsSession>,
    /// One entry per paused object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paused_targets: Vec<PausedTarget>,
    /// Ready, Granted, AutomationPaused, Stalled (the pipeline's), SessionsRevoked (the
    /// guard's). A map keyed by type, so each writer's server-side apply owns its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The AWS-side guard of this grant. Written only by the guard (the grant pipeline's
    /// status writes leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionsStatus>,
    /// Grants opened by the Alertmanager webhook: the alerts this grant stands for. Written
    /// only by the webhook (the controller's status writes leave it out); the webhook sets
    /// `spec.resolved` once every one of them is resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5000))]
    pub alerts: Vec<GrantAlert>,
}

/// One Alertmanager alert a grant stands for: one firing of one alert (fingerprint and
/// `startsAt`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GrantAlert {
    /// Alertmanager's fingerprint of the alert's labels.
    #[schemars(length(max = 128))]
    pub fingerprint: String,
    /// When this firing started (the alert's `startsAt`, as Alertmanager sent it).
    #[schemars(length(max = 64))]
    pub starts_at: String,
    pub state: AlertState,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    /// Alertmanager last said it fires.
    Firing,
    /// Alertmanager said it resolved (possibly before it said it fired).
    Resolved,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GrantedAccess {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_membership: Option<GrantedMembership>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub account_assignments: Vec<GrantedAssignment>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GrantedMembership {
    /// Identity Store the group lives in; kept so access can be revoked after the policy is gone.
    pub identity_store_id: String,
    pub group_id: String,
    /// The display name the policy named the group by, when it did so: a policy that names
    /// another group later ends the grant (`PolicyChanged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_id: Option<String>,
    /// The user was a member before the grant (not added by the operator): the membership
    /// is neither guarded nor removed at the end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standing: bool,
}

/// One account's permission-set assignment for this grant.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GrantedAssignment {
    pub account_id: String,
    pub permission_set_arn: String,
    /// The Identity Center instance; kept so access can be revoked after the policy is gone.
    pub instance_arn: String,
    pub state: AssignmentState,
    /// Request ID of the asynchronous create (Pending, Failed) or delete (Removing) AWS is
    /// working on; polled until it finishes, also after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// AWS's FailureReason, or why the assignment was kept at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The user had this assignment before the grant (not made by the operator): it is
    /// neither guarded nor removed at the end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standing: bool,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignmentState {
    /// Recorded; being created on AWS.
    Pending,
    /// AWS confirmed the assignment.
    Assigned,
    /// AWS answered FAILED (see `message`); created again with backoff.
    Failed,
    /// Being deleted on AWS.
    Removing,
    /// Deleted (or kept for another Active grant that gives the same access: see `message`).
    Removed,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AwsSession {
    pub role_arn: String,
    pub session_name: String,
    /// Region of the Identity Center instance the session acted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ExternalId used with the role (not a secret); needed to revoke after the policy is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}
