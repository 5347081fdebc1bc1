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
    let drift = if method == PauseMethod::Suspend && kind == Some("Kustomization") {
        cluster::flux::end_state(client, kinds, obj, field_manager).await
    } else {
        drift::assess(method, obj)
    };
    drift::qualify(method, drift, refreshed, ARGO_REFRESH_WAIT, old)
}
