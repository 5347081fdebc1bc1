//! Shared set-up for integration tests: a client for the local control plane started by
//! `make env-up` (tests/env/up.sh), CRD installation, and a namespace per test so that
//! tests run in parallel without seeing each other's objects.
#![allow(dead_code)] // each test binary uses its own subset

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config,
    api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    core::{GroupVersionKind, Status},
};
use serde_json::{Value, json};

pub const FIELD_MANAGER: &str = "breakglass-tests";

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The kubeconfig of the running test environment: `$KUBECONFIG` when env.sh was sourced,
/// else the one `make env-up` wrote under target/env.
fn kubeconfig_path() -> PathBuf {
    if let Ok(path) = std::env::var("KUBECONFIG") {
        return PathBuf::from(path);
    }
    let env_dir = std::env::var("BREAKGLASS_ENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_path("target/env"));
    let path = env_dir.join("kubeconfig");
    assert!(
        path.exists(),
        "no test environment at {}: run `make env-up` first, or run everything with `make test`",
        env_dir.display()
    );
    path
}

pub async fn client() -> Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("reading kubeconfig {}: {e}", path.display()));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig of the test environment");
    Client::try_from(config).expect("client for the test environment")
}

/// Installs (server-side apply) the CRDs printed by `breakglass crds` and waits until the API
/// server serves them. Safe to call from every test.
pub async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in breakglass::api::crds() {
        let name = crd.metadata.name.clone().expect("CRD has a name");
        crds.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
        eventually(Duration::from_secs(30), || async {
            let crd = crds.get(&name).await.ok()?;
            let conditions = crd.status?.conditions?;
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("CRD {name} did not become Established"));
    }
}

/// A fresh namespace for one test, named after it.
pub async fn namespace(client: &Client, test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut prefix: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    prefix.truncate(40);
    let name = format!(
        "{}-{:x}{n}",
        prefix.trim_matches('-'),
        nanos ^ std::process::id()
    );
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace object");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    name
}

/// A unique name for a cluster-scoped object made by one test.
pub fn unique_name(prefix: &str, namespace: &str) -> String {
    format!("{prefix}-{namespace}")
}

fn resource(kind: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk(breakglass::api::GROUP, breakglass::api::VERSION, kind);
    let plural = match kind {
        "BreakGlassPolicy" => "breakglasspolicies",
        "BreakGlassGrant" => "breakglassgrants",
        other => panic!("unknown kind {other}"),
    };
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

/// Untyped access, so tests can send objects the Rust types could never produce.
pub fn grants_raw(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &resource("BreakGlassGrant"))
}

pub fn policies_raw(client: &Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &resource("BreakGlassPolicy"))
}

pub fn object(kind: &str, name: &str, namespace: Option<&str>, spec: Value) -> DynamicObject {
    let mut metadata = json!({"name": name});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    serde_json::from_value(json!({
        "apiVersion": format!("{}/{}", breakglass::api::GROUP, breakglass::api::VERSION),
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    }))
    .expect("dynamic object")
}

/// The API server's rejection of a request that should have been refused as invalid.
pub fn expect_invalid<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) -> Status {
    match result {
        Err(kube::Error::Api(status)) if status.code == 422 => *status,
        Err(other) => panic!("{what}: expected 422 Invalid, got error {other}"),
        Ok(obj) => panic!("{what}: expected 422 Invalid, but the API server accepted {obj:?}"),
    }
}

/// Asserts that the API server reported `message` for exactly `field` (from the structured
/// `details.causes`), so that a rejection for some other reason does not pass.
pub fn assert_field_error(status: &Status, field: &str, message: &str) {
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or_default();
    let found = causes
        .iter()
        .any(|c| c.field == field && c.message.contains(message));
    assert!(
        found,
        "expected `{field}: … {message}` among the API server's causes: {causes:#?}\n{}",
        status.message
    );
}

/// Polls `check` until it returns Some or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
