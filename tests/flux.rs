//! Pausing against the real reconciler: Flux's own source-controller and
//! kustomize-controller (built from their modules by `make env-up`) run against the local
//! API server and apply a ConfigMap from a Bucket source on the AWS emulator's S3. Nothing
//! here writes a Flux status: what the grant records comes from what the real controllers
//! did and from the live objects. Each test has its own namespace and bucket; a "commit"
//! is a new object in the bucket.

mod common;

use std::{process::Command, time::Duration};

use breakglass::api::{BreakGlassGrant, GrantPhase, PauseState, PausedTarget};
use common::{objects::*, *};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const BUCKET: (&str, &str, &str) = ("source.toolkit.fluxcd.io", "v1", "Bucket");
/// Flux's intervals here: the bucket is polled and the Kustomization reconciled this often.
const INTERVAL: &str = "2s";
/// Long enough for the source to be fetched and applied (first run included).
const FLUX: Duration = Duration::from_secs(60);
/// A held target is looked at again every 15 s, plus time to act.
const REVIEW: Duration = Duration::from_secs(45);

struct World {
    s: Scenario,
    ns: String,
}

/// A namespace with a bucket holding `app/settings.yaml` (ConfigMap `settings`, mode
/// `normal`), a Bucket source and a Kustomization `app` applying it, both reconciled by
/// the real Flux controllers; a policy pausing `app` with `restore`.
async fn world(test: &str, restore: &str) -> World {
    let (s, ns) = scenario(test, |ns| {
        json!([{"flux": {"kind": "Kustomization", "namespace": ns, "names": ["app"]}, "restore": restore}])
    })
    .await;
    s3(&["-X", "PUT"], &ns);
    let w = World { s, ns };
    w.commit("normal");
    let endpoint = setting("AWS_ENDPOINT_URL");
    let c = &w.s.client;
    // Only objects in the environment's Flux shard are reconciled by the real controllers.
    let shard = setting("BREAKGLASS_FLUX_SHARD");
    let (key, value) = shard.split_once('=').expect("key=value");
    let labels = json!({ key: value });
    // moto answers an unsigned GetObject with Access Denied: the emulator's test keys.
    let keys = json!({"accesskey": setting("AWS_ACCESS_KEY_ID"), "secretkey": setting("AWS_SECRET_ACCESS_KEY")});
    create(
        c,
        &w.ns,
        ("", "v1", "Secret"),
        "s3",
        json!({"stringData": keys}),
    )
    .await;
    create(
        c,
        &w.ns,
        BUCKET,
        "app",
        json!({"labels": labels, "spec": {
        "provider": "generic", "bucketName": w.ns,
        "endpoint": endpoint.trim_start_matches("http://"), "insecure": true,
        "region": "us-east-1", "interval": INTERVAL, "timeout": "10s",
        "secretRef": {"name": "s3"}}}),
    )
    .await;
    create(
        c,
        &w.ns,
        KUSTOMIZATION,
        "app",
        json!({"labels": labels, "spec": {
        "interval": INTERVAL, "retryInterval": INTERVAL, "timeout": "30s", "path": "./app",
        "prune": true, "sourceRef": {"kind": "Bucket", "name": "app"}}}),
    )
    .await;
    w.wait_mode("normal", FLUX).await;
    w
}

/// `curl` against the AWS emulator's S3 (path style, signed with the test keys).
fn s3(args: &[&str], path: &str) {
    let url = format!("{}/{path}", setting("AWS_ENDPOINT_URL"));
    let user = format!(
        "{}:{}",
        setting("AWS_ACCESS_KEY_ID"),
        setting("AWS_SECRET_ACCESS_KEY")
    );
    let out = Command::new("curl")
        .args([
            "-sS",
            "-f",
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
            "--user",
            &user,
        ])
        .args(args)
        .arg(&url)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "S3 {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl World {
    /// A commit: the bucket's manifest now says `mode`.
    fn commit(&self, mode: &str) {
        let manifest = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {}\ndata:\n  mode: {mode}\n",
            self.ns
        );
        let file = std::env::temp_dir().join(format!("{}-settings.yaml", self.ns));
        std::fs::write(&file, manifest).expect("manifest");
        let data = format!("@{}", file.display());
        s3(
            &[
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/yaml",
                "--data-binary",
                &data,
            ],
            &format!("{}/app/settings.yaml", self.ns),
        );
    }

    async fn mode(&self) -> Option<String> {
        let cm = api(&self.s.client, &self.ns, CONFIG_MAP)
            .get_opt("settings")
            .await
            .ok()??;
        serde_json::to_value(cm).ok()?["data"]["mode"]
            .as_str()
            .map(str::to_owned)
    }

    async fn wait_mode(&self, want: &str, within: Duration) {
        let got = eventually(within, || async {
            (self.mode().await.as_deref() == Some(want)).then_some(())
        })
        .await;
        assert!(
            got.is_some(),
            "ConfigMap settings never had mode {want}: {:?}",
            self.mode().await
        );
    }

    /// A person's repair, as `kubectl edit` writes it.
    async fn hotfix(&self) {
        let params = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..PatchParams::default()
        };
        api(&self.s.client, &self.ns, CONFIG_MAP)
            .patch(
                "settings",
                &params,
                &Patch::Merge(json!({"data": {"mode": "hotfix"}})),
            )
            .await
            .expect("hotfix");
    }

    async fn kustomization(&self) -> Value {
        get(&self.s.client, &self.ns, KUSTOMIZATION, "app").await
    }

    /// The source's artifact revision once it differs from `not`.
    async fn revision_after(&self, not: Option<&str>) -> String {
        let found = eventually(FLUX, || async {
            let b = get(&self.s.client, &self.ns, BUCKET, "app").await;
            let r = b["status"]["artifact"]["revision"].as_str()?.to_owned();
            (Some(r.as_str()) != not).then_some(r)
        })
        .await;
        found.expect("the Bucket source reported a new artifact")
    }

    /// How many times kustomize-controller has reconciled the Kustomization (its own
    /// count in `status.history`: every interval, whether or not anything changed).
    async fn reconciliations(&self) -> u64 {
        let k = self.kustomization().await;
        let history = k["status"]["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        history
            .iter()
            .filter_map(|h| h["totalReconciliations"].as_u64())
            .sum()
    }

    /// Waits until kustomize-controller has seen the suspend: a reconcile started before
    /// it, or from a cache that had not seen it yet, would still apply the source over a
    /// repair. Seen once a whole interval passes without a reconcile.
    async fn settled(&self) {
        let quiet = eventually(FLUX, || async {
            let before = self.reconciliations().await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            (self.reconciliations().await == before).then_some(())
        })
        .await;
        assert!(
            quiet.is_some(),
            "kustomize-controller kept reconciling a suspended Kustomization"
        );
    }

    /// Whether kustomize-controller reconciles it again within `within`.
    async fn reconciles(&self, within: Duration) -> bool {
        let before = self.reconciliations().await;
        eventually(within, || async {
            (self.reconciliations().await > before).then_some(())
        })
        .await
        .is_some()
    }

    async fn entry_in(
        &self,
        grant: &str,
        want: impl Fn(&PausedTarget) -> bool,
        within: Duration,
    ) -> BreakGlassGrant {
        let grants = self.s.grants();
        let found = eventually(within, || async {
            let g = grants.get(grant).await.ok()?;
            want(entry(&g, "app")).then_some(g)
        })
        .await;
        found.unwrap_or_else(|| panic!("{grant}'s entry for app never got there"))
    }
}

fn drift_of(g: &BreakGlassGrant) -> breakglass::api::Drift {
    entry(g, "app").drift.clone().expect("drift recorded")
}

#[tokio::test]
async fn a_repair_survives_the_pause_and_auto_restore_hands_back_to_the_source() {
    let w = world("flux-auto", "Auto").await;
    assert!(
        w.reconciles(FLUX).await,
        "kustomize-controller answers reconcile requests"
    );
    let _controller = ControllerProcess::start(&w.s.ns, &[]);
    w.s.create_grant("g", |_| {}).await;
    wait_entry_state(&w.s, "g", "app", PauseState::Paused).await;
    assert_eq!(w.kustomization().await["spec"]["suspend"], json!(true));
    w.settled().await;

    // Suspended: kustomize-controller ignores requests and leaves the repair alone over
    // several intervals (a negative that cannot pass by accident: it handled the last one).
    w.hotfix().await;
    assert!(
        !w.reconciles(Duration::from_secs(8)).await,
        "suspended, not reconciled"
    );
    assert_eq!(
        w.mode().await.as_deref(),
        Some("hotfix"),
        "the repair survives while paused"
    );

    w.s.resolve("g").await;
    let ended = w.s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert_eq!(entry(&ended, "app").state, PauseState::Restored);
    let drift = drift_of(&ended);
    assert_eq!(drift.in_sync, Some(false), "{}", drift.summary);
    let cm = drift
        .resources
        .iter()
        .find(|r| r.name == "settings")
        .expect("settings in the drift");
    assert_eq!(
        (cm.kind.as_str(), cm.namespace.as_deref()),
        ("ConfigMap", Some(w.ns.as_str()))
    );
    assert!(
        cm.status.contains("data.mode") && cm.status.contains("kubectl-edit"),
        "{}",
        cm.status
    );

    // Given back: kustomize-controller reconciles again and the source wins (documented).
    assert!(
        w.kustomization().await["spec"]
            .get("suspend")
            .is_none_or(|v| v == &json!(false))
    );
    w.wait_mode("normal", FLUX).await;
    assert!(w.reconciles(FLUX).await);
}

#[tokio::test]
async fn when_in_sync_is_held_until_the_fix_is_committed_and_never_released_into_a_revert() {
    let w = world("flux-insync", "WhenInSync").await;
    let first = w.revision_after(None).await;
    let _controller = ControllerProcess::start(&w.s.ns, &[]);
    w.s.create_grant("g", |_| {}).await;
    wait_entry_state(&w.s, "g", "app", PauseState::Paused).await;
    w.settled().await;
    w.hotfix().await;

    w.s.resolve("g").await;
    let ended = w.s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert_eq!(
        entry(&ended, "app").state,
        PauseState::Held,
        "{:?}",
        entry(&ended, "app")
    );
    let drift = drift_of(&ended);
    assert_eq!(drift.in_sync, Some(false), "{}", drift.summary);
    assert!(drift.summary.contains(&first), "{}", drift.summary);

    // A commit that does not match the repair moves the source: still held, re-assessed at
    // the new revision.
    w.commit("other");
    let second = w.revision_after(Some(&first)).await;
    let g = w
        .entry_in(
            "g",
            |e| {
                e.drift
                    .as_ref()
                    .is_some_and(|d| d.summary.contains(&second))
            },
            REVIEW,
        )
        .await;
    assert_eq!(entry(&g, "app").state, PauseState::Held);
    assert_eq!(drift_of(&g).in_sync, Some(false));
    assert_eq!(w.kustomization().await["spec"]["suspend"], json!(true));
    assert_eq!(w.mode().await.as_deref(), Some("hotfix"));

    // The fix is committed: released by itself, and kustomize-controller applies the new
    // revision without reverting anything.
    w.commit("hotfix");
    let third = w.revision_after(Some(&second)).await;
    let g = w
        .entry_in("g", |e| e.state == PauseState::Restored, REVIEW)
        .await;
    let drift = drift_of(&g);
    assert_eq!(drift.in_sync, Some(true), "{}", drift.summary);
    assert!(drift.summary.contains(&third), "{}", drift.summary);
    let applied = eventually(FLUX, || async {
        (w.kustomization().await["status"]["lastAppliedRevision"] == third.as_str()).then_some(())
    })
    .await;
    assert!(
        applied.is_some(),
        "kustomize-controller applied the fixed revision"
    );
    assert_eq!(
        w.mode().await.as_deref(),
        Some("hotfix"),
        "nothing reverted"
    );
}

#[tokio::test]
async fn overlapping_grants_and_a_crash_mid_restore_give_it_back_once() {
    let w = world("flux-crash", "Auto").await;
    let controller = ControllerProcess::start(&w.s.ns, &[]);
    w.s.create_grant("first", |_| {}).await;
    wait_entry_state(&w.s, "first", "app", PauseState::Paused).await;
    w.s.create_grant("second", |_| {}).await;
    wait_entry_state(&w.s, "second", "app", PauseState::Paused).await;
    w.settled().await;
    w.hotfix().await;

    // The first ending leaves it paused for the second.
    w.s.resolve("first").await;
    let first = w.s.wait_phase("first", GrantPhase::Ended, SOON).await;
    assert_eq!(entry(&first, "app").state, PauseState::Released);
    assert_eq!(w.kustomization().await["spec"]["suspend"], json!(true));
    assert!(!w.reconciles(Duration::from_secs(6)).await);
    assert_eq!(w.mode().await.as_deref(), Some("hotfix"));

    // The operator dies right after giving it back, before the grant says so.
    controller.kill();
    let crashing =
        ControllerProcess::start(&w.s.ns, &[("BREAKGLASS_FAILPOINT", "after-restore-target")]);
    w.s.resolve("second").await;
    crashing.wait_for_failpoint().await;
    crashing.kill();
    assert!(
        w.kustomization().await["spec"]
            .get("suspend")
            .is_none_or(|v| v == &json!(false))
    );
    assert_eq!(
        entry(&w.s.grants().get("second").await.expect("grant"), "app").state,
        PauseState::Paused,
        "not yet recorded"
    );

    let _restarted = ControllerProcess::start(&w.s.ns, &[]);
    let second = w.s.wait_phase("second", GrantPhase::Ended, SOON).await;
    let e = entry(&second, "app");
    assert_eq!(e.state, PauseState::Restored, "{e:?}");
    assert_eq!(drift_of(&second).in_sync, Some(false));
    let k = w.kustomization().await;
    assert!(k["spec"].get("suspend").is_none_or(|v| v == &json!(false)));
    assert_eq!(our_annotations(&k), Vec::<String>::new());
    w.wait_mode("normal", FLUX).await;
}
