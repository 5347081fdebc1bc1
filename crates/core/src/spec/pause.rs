//! What a grant records about each object it paused: enough to restore it even when the
//! object has lost the operator's annotations.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How an object is paused.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum PauseMethod {
    /// Argo CD: `automated.enabled: false`, or without that field, `automated` removed.
    DisableAutoSync,
    /// Argo CD: annotation `argocd.argoproj.io/skip-reconcile: "true"`.
    SkipReconcile,
    /// Flux: `spec.suspend: true`.
    Suspend,
    /// Crossplane: annotation `crossplane.io/paused: "true"`.
    CrossplanePause,
    /// tofu-controller: `spec.approvePlan: ""` (plan, never apply).
    PlanOnly,
    /// Any kind: one annotation set while paused.
    Annotation,
}

/// Where a `pausedTargets` entry stands.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseState {
    /// Original recorded on the grant; the object is about to be patched.
    Pausing,
    Paused,
    /// Nothing to pause (auto-sync off, already paused by someone else, …).
    Skipped,
    /// The object or its kind does not exist.
    NotFound,
    /// Reading, checking or patching it failed (see `reason`); the other targets are paused
    /// all the same, and this one is tried again.
    Failed,
    /// Someone else changed the paused field during the grant; it is left as they set it.
    ChangedByOthers,
    Restored,
    /// Other grants still hold the pause; the last of them restores it.
    Released,
    /// The pause never reached the object (e.g. a crash after recording): nothing to undo.
    NotPaused,
    /// The object was deleted during the grant.
    Gone,
    /// The grant ended but the target stays paused for review (`restore: WhenInSync` with
    /// drift left, or `Manual`); see `drift`.
    Held,
}

impl PauseState {
    /// States whose object may carry this grant's hold, so ending the grant must look at it.
    pub fn may_hold(self) -> bool {
        matches!(
            self,
            PauseState::Pausing
                | PauseState::Paused
                | PauseState::ChangedByOthers
                | PauseState::Failed
                | PauseState::Held
        )
    }
}

/// One object in the cluster, by identity: what every pause comparison keys on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PausedTarget {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub method: PauseMethod,
    /// JSON pointer of the one field the pause owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value before pausing, as JSON (absent when the field was unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// The value set while paused, as JSON (absent when the pause removes the field). With
    /// `path` and `original` this is the grant's own record: enough to restore the object
    /// when its annotations are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
    pub state: PauseState,
    /// When automation is given back (from the policy's entry when it was paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreMode>,
    /// What the automation would change when given back, recorded before restoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// Why a `Failed` or `NotFound` entry is so; `message` says more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<PauseProblem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl PausedTarget {
    pub fn target(&self) -> TargetRef {
        TargetRef {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// Why a target could not be paused or restored.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseProblem {
    /// The named object does not exist (or no object matches the selector).
    NotFound,
    /// The kind is not served: its CRD is not installed.
    KindNotInstalled,
    /// The operator's RBAC does not allow it; the message names the missing rule.
    Forbidden,
    /// The API server did not answer in time.
    Timeout,
    /// The object changed while it was being patched; looked at again.
    Conflict,
    /// The API server refused the patch or the selector is invalid.
    Invalid,
    /// The pause annotations on the object are unreadable.
    BadRecord,
    /// The object's pause record names a field or a value its method does not own (anyone
    /// who may edit the object may write it): nothing is written from it.
    RefusedRecord,
    /// The app-of-apps an Application names (labels, tracking id) does not list it in its
    /// `status.resources`: not paused as its parent.
    NotManaged,
    /// Any other API error.
    KubernetesError,
}

/// When a paused target is given back after its grant ends.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestoreMode {
    /// At once (the drift is recorded first).
    #[default]
    Auto,
    /// Once the target reports no drift: the repair was codified in Git or reverted.
    WhenInSync,
    /// When a person says so: `kubectl breakglass restore` or annotation
    /// `breakglass.dev/restore: now` on the grant.
    Manual,
}

/// What a target's automation would change if given back now.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// One line: in sync, what differs, or why it could not be assessed.
    pub summary: String,
    /// `true`: nothing to change; `false`: the automation would change something; absent:
    /// not assessed (no status the operator can read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_sync: Option<bool>,
    /// The resources that differ, as the tool reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<DriftResource>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DriftResource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The tool's word for it, e.g. OutOfSync, or a pending plan's name.
    pub status: String,
}
