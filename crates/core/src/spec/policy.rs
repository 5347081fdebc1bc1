//! `BreakGlassPolicy`: who may break glass, for how long, into which AWS access, and which
//! automation to pause meanwhile. Cluster-scoped, managed as code.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    Condition, LabelSelector, RestoreMode, SessionGuard,
    validation::{
        Rule, alertmanager_matchers, at_most_a_day, exactly_one_of, max_not_below_default,
        names_or_selector, not_blank, positive_go_duration,
    },
};

// What a policy allows; `breakglass-api` makes it the spec of the `BreakGlassPolicy` kind.
// (No doc comment: it would become the CRD's description of `spec`.)
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassPolicySpec {
    /// What this policy is for, shown to the people who request it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// Identity Store user names that may be granted this access.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 128)))]
    pub eligible_users: Vec<String>,

    /// Identity Store group display names whose members may be granted this access.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    pub eligible_groups: Vec<String>,

    /// Namespaces whose grants may use this policy; empty means any namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 63)))]
    pub grant_namespaces: Vec<String>,

    /// Grant durations: `default` when a grant names none, `max` as its ceiling (≤ 24h).
    #[serde(default)]
    pub duration: PolicyDuration,

    /// Grants must carry `spec.incident.id`.
    #[serde(default)]
    pub require_incident: bool,

    /// Where and as whom the operator changes AWS IAM Identity Center.
    pub aws: PolicyAws,

    /// What a grant gives: exactly one of `groupMembership` or `accountAssignment`.
    pub access: PolicyAccess,

    /// Automation to pause while a grant under this policy is active.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub pause: Vec<PauseTarget>,

    /// Alert rules: which alerts, received on the Alertmanager webhook, open grants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub alerts: Vec<AlertRule>,
}

fn default_duration() -> String {
    "1h".into()
}

fn max_duration() -> String {
    "24h".into()
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[schemars(extend("x-kubernetes-validations" = [max_not_below_default()]))]
pub struct PolicyDuration {
    /// Duration of a grant that names none (Go duration string).
    #[serde(default = "default_duration")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [positive_go_duration(), at_most_a_day()]))]
    pub default: String,

    /// The longest a grant may last (Go duration string, at most 24h).
    #[serde(default = "max_duration")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [positive_go_duration(), at_most_a_day()]))]
    pub max: String,
}

impl Default for PolicyDuration {
    fn default() -> Self {
        Self {
            default: default_duration(),
            max: max_duration(),
        }
    }
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAws {
    /// AWS region of the IAM Identity Center instance; defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"))]
    pub region: Option<String>,

    /// Identity Store ID (`d-` followed by ten hex digits, or a UUID).
    #[schemars(regex(
        pattern = r"^(d-[0-9a-f]{10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
    ))]
    pub identity_store_id: String,

    /// IAM role assumed (STS AssumeRole) to grant and revoke access.
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$"))]
    pub role_arn: String,

    /// Optional IAM role assumed for read-only look-ups (users, groups, memberships).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$"))]
    pub read_role_arn: Option<String>,

    /// ExternalId passed to AssumeRole when the role's trust policy requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224), regex(pattern = r"^[\w+=,.@:/-]+$"))]
    pub external_id: Option<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [exactly_one_of(
    "groupMembership",
    "accountAssignment",
    "exactly one of groupMembership or accountAssignment must be set"
), Rule::new(
    "!has(self.sessions) || !has(self.sessions.permissionSets) || has(self.groupMembership)",
    "sessions.permissionSets is for groupMembership access; an accountAssignment guards its own permission set",
)]))]
pub struct PolicyAccess {
    /// Add the user to an Identity Store group that is assigned the break-glass permission set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_membership: Option<GroupMembershipAccess>,

    /// Assign a permission set to the user directly on the listed accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_assignment: Option<AccountAssignmentAccess>,

    /// The AWS-side guard: AWS denies the user after expiry, and sessions issued before the
    /// end are cut (Deny statements in the permission sets' inline policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionGuard>,
}

impl PolicyAccess {
    /// The guard as the policy asks it (absent = `Enforce`, permission sets discovered).
    pub fn guard(&self) -> SessionGuard {
        self.sessions.clone().unwrap_or_default()
    }
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [exactly_one_of(
    "groupName",
    "groupId",
    "exactly one of groupName or groupId must be set"
)]))]
pub struct GroupMembershipAccess {
    /// Display name of the Identity Store group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub group_name: Option<String>,

    /// Identity Store group ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 47))]
    pub group_id: Option<String>,

    /// `true`: the group belongs to the operator, and any member without an Active grant is
    /// removed, hand-added ones included. `false`: members the operator never added are left
    /// alone and reported (policy condition `Ready=False`, reason `UnmanagedMembers`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclusive: bool,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [exactly_one_of(
    "permissionSetArn",
    "permissionSetName",
    "exactly one of permissionSetArn or permissionSetName must be set"
)]))]
pub struct AccountAssignmentAccess {
    /// ARN of the IAM Identity Center instance. Optional when the role's account has
    /// exactly one instance (found with ListInstances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[a-zA-Z0-9.-]{16}$"))]
    pub instance_arn: Option<String>,

    /// ARN of the permission set to assign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^arn:aws[a-z-]*:sso:::permissionSet/(sso)?ins-[a-zA-Z0-9.-]{16}/ps-[a-zA-Z0-9.-]{16}$"
    ))]
    pub permission_set_arn: Option<String>,

    /// Name of the permission set to assign, instead of its ARN (looked up once, cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub permission_set_name: Option<String>,

    /// AWS account IDs to assign the permission set on. A grant may narrow them with
    /// `spec.accountIds`.
    #[schemars(length(min = 1, max = 64), inner(regex(pattern = r"^[0-9]{12}$")))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub account_ids: Vec<String>,

    /// `true`: USER assignments of this permission set on these accounts belong to the
    /// operator, and any without an Active grant is removed. `false`: others are reported.
    /// GROUP assignments are never touched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclusive: bool,
}

/// One kind of automation to pause; exactly one field is set.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [Rule::new(
    "[has(self.argoCD), has(self.flux), has(self.crossplane), has(self.tofu), has(self.annotation)].filter(x, x).size() == 1",
    "each pause entry must set exactly one of argoCD, flux, crossplane, tofu or annotation",
)]))]
pub struct PauseTarget {
    /// Argo CD Applications.
    #[serde(default, rename = "argoCD", skip_serializing_if = "Option::is_none")]
    pub argo_cd: Option<ArgoCdPause>,
    /// Flux Kustomizations or HelmReleases (`spec.suspend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flux: Option<FluxPause>,
    /// Crossplane managed resources or claims (`crossplane.io/paused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossplane: Option<CrossplanePause>,
    /// tofu-controller Terraform objects (`spec.approvePlan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tofu: Option<TofuPause>,
    /// Any other kind: set an annotation while paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<AnnotationPause>,
    /// When to give the automation back after the grant ends: `Auto` (at once, default),
    /// `WhenInSync` (once the target reports no drift), `Manual` (when a person says so).
    #[serde(default)]
    pub restore: RestoreMode,
}

/// How to pause an Argo CD Application.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArgoCdMethod {
    /// `spec.syncPolicy.automated.enabled: false`: keeps prune/selfHeal settings (Argo CD ≥ 3.1).
    #[default]
    DisableAutoSync,
    /// `argocd.argoproj.io/skip-reconcile: "true"`: stops all processing of the app.
    SkipReconcile,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [names_or_selector()]))]
pub struct ArgoCdPause {
    /// Namespace of the Applications.
    #[serde(default = "argocd_namespace")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 253)))]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub method: ArgoCdMethod,
    /// Also pause the app-of-apps that manages each selected Application (found through
    /// Argo CD's tracking annotation or instance label), so it cannot re-apply the child.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pause_parent: bool,
    /// When true, a grant waits (no access given) until every selected object exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

fn argocd_namespace() -> String {
    "argocd".into()
}

/// The Flux kinds that have `spec.suspend`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FluxKind {
    Kustomization,
    HelmRelease,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [names_or_selector()]))]
pub struct FluxPause {
    pub kind: FluxKind,
    #[serde(default = "flux_namespace")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 253)))]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// When true, a grant waits (no access given) until every selected object exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

fn flux_namespace() -> String {
    "flux-system".into()
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [names_or_selector()]))]
pub struct CrossplanePause {
    /// API version of the managed resource or claim, e.g. `rds.aws.upbound.io/v1beta1`.
    #[schemars(length(min = 1, max = 253))]
    pub api_version: String,
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    /// Namespace for namespaced resources (claims, Crossplane v2 managed resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 253)))]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// When true, a grant waits (no access given) until every selected object exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [names_or_selector()]))]
pub struct TofuPause {
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 253)))]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// When true, a grant waits (no access given) until every selected object exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [names_or_selector()]))]
pub struct AnnotationPause {
    #[schemars(length(min = 1, max = 253))]
    pub api_version: String,
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    /// Namespace for namespaced kinds; omit for cluster-scoped ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 253)))]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Annotation key set while paused.
    #[schemars(extend("x-kubernetes-validations" = [Rule::new(
        "!self.startsWith('breakglass.dev/')",
        "breakglass.dev/ annotations are the operator's own",
    )]))]
    #[schemars(regex(
        pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
    ))]
    pub key: String,
    /// Annotation value set while paused.
    #[schemars(length(max = 1024))]
    pub value: String,
    /// When true, a grant waits (no access given) until every selected object exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

/// Which alerts open grants, for whom, where and for how long.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [Rule::new(
    "has(self.userLabel) != (has(self.users) && size(self.users) > 0)",
    "set exactly one of userLabel or users",
)]))]
pub struct AlertRule {
    /// Alertmanager matchers that must all match the alert's labels.
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 256)))]
    #[schemars(extend("x-kubernetes-validations" = [alertmanager_matchers()]))]
    pub matchers: Vec<String>,

    /// The alert label whose value is the Identity Store user name to grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z_][a-zA-Z0-9_]*$"), length(max = 128))]
    pub user_label: Option<String>,

    /// Fixed Identity Store user names to grant when the alert fires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 128)))]
    pub users: Vec<String>,

    /// Namespace the grant is created in.
    #[schemars(length(min = 1, max = 63))]
    #[schemars(extend("x-kubernetes-validations" = [not_blank("namespace")]))]
    pub namespace: String,

    /// Grant duration; the policy default when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [positive_go_duration(), at_most_a_day()]))]
    pub duration: Option<String>,
}

/// Observed state of a policy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassPolicyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
