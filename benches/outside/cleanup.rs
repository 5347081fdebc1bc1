//! What a run leaves behind, removed whether it succeeded or not.

use std::time::{Duration, Instant};

use breakglass::api::BreakGlassGrant;
use futures::{StreamExt, stream};
use kube::{
    Api,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use serde_json::json;

use crate::{
    controller::Controller,
    steps::{budget, progress},
    world::World,
};

/// Grants first, while a controller runs to take their finalizers off; then the policies.
pub async fn cleanup(world: &World, api: &Api<BreakGlassGrant>, ctl: &mut Controller) {
    if ctl.pid() == 0 {
        let _ = ctl.start().await;
    }
    let names = || async {
        api.list_metadata(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .filter_map(|g| g.metadata.name)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    // One by one: a collection delete of thousands can time out on the API server.
    let each = |names: Vec<String>, patch: Option<Patch<serde_json::Value>>| async move {
        stream::iter(names)
            .for_each_concurrent(32, |name| {
                let patch = patch.clone();
                async move {
                    if let Some(p) = &patch {
                        let _ = api.patch(&name, &PatchParams::default(), p).await;
                    }
                    let _ = api.delete(&name, &DeleteParams::default()).await;
                }
            })
            .await
    };
    each(names().await, None).await;
    let deadline = Instant::now() + budget(world.users());
    loop {
        let left = names().await;
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            progress(&format!(
                "{} grants still have finalizers; removing them by hand",
                left.len()
            ));
            let strip = Patch::Merge(json!({"metadata": {"finalizers": null}}));
            each(left, Some(strip)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    ctl.kill();
    world.remove_policies().await;
}
