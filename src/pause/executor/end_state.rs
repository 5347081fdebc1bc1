//! A target's drift just before it is given back: from its controller's status where that
//! is live, from the live objects for a suspended Flux Kustomization, and "not assessed"
//! where the status is from before the pause.

use std::time::Duration;

use kube::Client;
use serde_json::Value;

use crate::{
    api::{Drift, PauseMethod},
    pause::{cluster, drift},
};

/// How long Argo CD gets to refresh an Application before its drift is recorded (only for
/// targets that are not given back at once).
pub(super) const ARGO_REFRESH_WAIT: Duration = Duration::from_secs(5);

/// The drift of `obj`, paused with `method`. `refreshed`: whether Argo CD was asked to
/// refresh and did (`None`: not asked). `old`: the drift already recorded.
pub(super) async fn drift(
    client: &Client,
    kinds: &cluster::Kinds,
    method: PauseMethod,
    obj: &Value,
    refreshed: Option<bool>,
    old: Option<&Drift>,
    field_manager: &str,
) -> Drift {
    let kind = obj.get("kind").and_then(Value::as_str);
    let mut drift = if method == PauseMethod::Suspend && kind == Some("Kustomization") {
        cluster::flux::end_state(client, kinds, obj, field_manager).await
    } else {
        drift::assess(method, obj)
    };
    // With skip-reconcile Argo CD does nothing at all, so unless it was just seen to
    // refresh, its status is from before the pause and says nothing about now.
    if method == PauseMethod::SkipReconcile && refreshed != Some(true) {
        drift.in_sync = None;
        if !drift.summary.starts_with("not assessed") {
            drift.summary = format!(
                "not assessed: skip-reconcile stops Argo CD refreshing, so its status is from before the pause ({})",
                drift.summary
            );
        }
    }
    if refreshed == Some(false) {
        drift.summary.push_str(&format!(
            " (Argo CD did not refresh within {}s: this is its last reported status)",
            ARGO_REFRESH_WAIT.as_secs()
        ));
    }
    // A held target's re-check asks Argo CD nothing: the note that it did not refresh
    // still holds, and must not flip the recorded drift back and forth.
    if refreshed.is_none()
        && let Some(old) = old
        && old.in_sync == drift.in_sync
        && old.resources == drift.resources
        && old.summary.starts_with(&drift.summary)
    {
        return old.clone();
    }
    drift
}
