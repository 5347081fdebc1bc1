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

pub mod faults;
pub mod hook;
pub mod objects;
pub mod people;
pub mod scenario;
pub mod sso;
#[allow(unused_imports)] // not every test binary uses the scenario
pub use scenario::*;

pub const FIELD_MANAGER: &str = "breakglass-tests";

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Where `make env-up` keeps the environment's state.
pub fn env_dir() -> PathBuf {
    std::env::var("BREAKGLASS_ENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_path("target/env"))
}

/// The kubeconfig of the running test environment: `$KUBECONFIG` when env.sh was sourced,
/// else the one `make env-up` wrote under target/env.
pub fn kubeconfig_path() -> PathBuf {
    if let Ok(path) = std::env::var("KUBECONFIG") {
        return PathBuf::from(path);
    }
    let env_dir = env_dir();
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

/// A client of the test environment acting as another person (impersonation: `--as`,
/// `--as-group`), so the API server's authorization and admission see that person.
pub async fn client_as(user: &str, groups: &[&str]) -> Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("reading kubeconfig {}: {e}", path.display()));
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig of the test environment");
    config.auth_info.impersonate = Some(user.to_owned());
    config.auth_info.impersonate_groups =
        (!groups.is_empty()).then(|| groups.iter().map(|g| g.to_string()).collect());
    Client::try_from(config).expect("impersonating client")
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

/// `KEY=value` settings of the test environment: the process environment when env.sh was
/// sourced, else the file `make env-up` wrote.
pub fn env_settings() -> Vec<(String, String)> {
    let keys = [
        "KUBECONFIG",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_EC2_METADATA_DISABLED",
        "BREAKGLASS_FLUX_SHARD",
    ];
    if std::env::var("AWS_ENDPOINT_URL").is_ok() {
        return keys
            .iter()
            .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
            .collect();
    }
    let env_dir = env_dir();
    let text = std::fs::read_to_string(env_dir.join("env.sh")).unwrap_or_else(|e| {
        panic!(
            "no test environment at {} ({e}): run `make env-up` first, or `make test`",
            env_dir.display()
        )
    });
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| keys.contains(k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub fn setting(key: &str) -> String {
    env_settings()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{key} is not set in the test environment"))
}

/// A `breakglass controller` process scoped to one namespace; killed when dropped.
pub struct ControllerProcess {
    child: std::process::Child,
    pub log: PathBuf,
}

impl ControllerProcess {
    pub fn start(namespace: &str, extra_env: &[(&str, &str)]) -> Self {
        Self::start_with_args(namespace, extra_env, &[])
    }

    /// Admin endpoint on a free port; `args` are added to `breakglass controller`.
    pub fn start_with_args(namespace: &str, extra_env: &[(&str, &str)], args: &[&str]) -> Self {
        Self::start_logged(namespace, namespace, extra_env, args)
    }

    /// Like `start_with_args`, logging to `target/test-logs/<log_name>.log` (several
    /// controllers in one namespace).
    pub fn start_logged(
        namespace: &str,
        log_name: &str,
        extra_env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let dir = repo_path("target/test-logs");
        std::fs::create_dir_all(&dir).expect("log dir");
        let log = dir.join(format!("{log_name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"));
        cmd.args(["controller", "--namespace", namespace])
            .args(args);
        if !args.contains(&"--admin-addr") {
            cmd.args(["--admin-addr", "127.0.0.1:0"]);
        }
        // Tests wait for "one sweep": keep it short unless the test chooses.
        if !args.contains(&"--sweep-interval") {
            cmd.args(["--sweep-interval", "2s"]);
        }
        cmd.envs(env_settings())
            .env("RUST_LOG", "info,breakglass=debug")
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (k, v) in extra_env {
            assert!(
                cfg!(feature = "failpoints")
                    || !k.starts_with("BREAKGLASS_FAILPOINT") && *k != "BREAKGLASS_WATCH_LAG_MS",
                "{k} needs the binary built with `--features failpoints` (make test does that)"
            );
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("starting breakglass controller");
        Self { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the process parked at its `BREAKGLASS_FAILPOINT`.
    pub async fn wait_for_failpoint(&self) {
        eventually(SOON, || async {
            self.log_text().contains("failpoint reached").then_some(())
        })
        .await
        .expect("controller stopped at the failpoint");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `breakglass controller` arguments of a replica that competes for the Lease `lease` in
/// `namespace` as `identity`, serving its admin endpoint on `admin`.
pub fn replica_args(
    lease: &str,
    namespace: &str,
    identity: &str,
    (duration, grace): (u64, u64),
    admin: &str,
) -> Vec<String> {
    [
        "--leader-elect",
        "--lease-name",
        lease,
        "--lease-namespace",
        namespace,
        "--lease-identity",
        identity,
        "--lease-duration",
        &duration.to_string(),
        "--lease-grace",
        &grace.to_string(),
        "--admin-addr",
        admin,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A controller with a known admin port; returns it and its `/metrics` URL.
pub fn metered_controller(ns: &str, env: &[(&str, &str)]) -> (ControllerProcess, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let p = ControllerProcess::start_with_args(ns, env, &["--admin-addr", &addr]);
    (p, format!("http://{addr}/metrics"))
}

/// A series' value once it is served (a labelled counter appears with its first count); a
/// series that never appears or a failed scrape fails the test (never a silent 0).
pub async fn scrape(url: &str, series: &str) -> f64 {
    let found = eventually(SOON, || async {
        get_text(url)
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
    })
    .await;
    found.unwrap_or_else(|| panic!("{series} not served at {url}"))
}

/// A counter's value once it reaches `want` (counters are bumped after the AWS change is
/// confirmed, so the change can be visible a moment before its count); the last value seen
/// otherwise, which the caller's assertion then reports.
pub async fn scrape_reaching(url: &str, series: &str, want: f64) -> f64 {
    scrape_until(url, series, |v| v >= want).await
}

/// A gauge's value once it equals `want` (gauges are computed from the controller's cache,
/// which can trail what the test just read from the API server); the last value otherwise.
pub async fn scrape_settled(url: &str, series: &str, want: f64) -> f64 {
    scrape_until(url, series, |v| v == want).await
}

async fn scrape_until(url: &str, series: &str, done: impl Fn(f64) -> bool) -> f64 {
    let last = std::cell::Cell::new(0.0);
    let reached = eventually(SOON, || async {
        last.set(scrape(url, series).await);
        done(last.get()).then_some(last.get())
    })
    .await;
    reached.unwrap_or(last.get())
}

/// `service:Operation` actions allowed by IAM policy documents.
pub fn iam_actions(files: &[&str]) -> Vec<String> {
    let mut actions = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(repo_path(file)).expect("IAM policy");
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        for statement in doc["Statement"].as_array().expect("statements") {
            match &statement["Action"] {
                Value::String(a) => actions.push(a.clone()),
                Value::Array(list) => {
                    actions.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)))
                }
                other => panic!("{file}: unexpected Action {other}"),
            }
        }
    }
    actions
}

/// (service, operation) pairs of every AWS call counted in a metrics text.
pub fn aws_operations(metrics: &str) -> Vec<(String, String)> {
    let label = |line: &str, name: &str| -> Option<String> {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + line[start..].find('"')?;
        Some(line[start..end].to_owned())
    };
    let mut ops: Vec<(String, String)> = metrics
        .lines()
        .filter(|l| l.starts_with("breakglass_aws_calls_total{"))
        .filter_map(|l| Some((label(l, "service")?, label(l, "operation")?)))
        .collect();
    ops.sort();
    ops.dedup();
    ops
}

/// Every AWS call the controller at `url` counted, summed over services, operations and
/// outcomes; a failed scrape fails the test (it would read as no calls at all).
pub fn aws_calls_total(url: &str) -> f64 {
    let text = get_text(url);
    assert!(
        text.contains("breakglass_sweeps_total"),
        "no metrics served at {url}: {text}"
    );
    text.lines()
        .filter(|l| l.starts_with("breakglass_aws_calls_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The path a tests/env script prints (it installs or builds the tool first if needed).
pub fn installed(script: &str) -> PathBuf {
    let out = std::process::Command::new("bash")
        .arg(repo_path(script))
        .output()
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A command from the pinned toolchain: `helm` (built by tests/env/helm.sh) or `kubectl`
/// (built with the control plane), pointed at the test environment.
pub fn tool(name: &str) -> std::process::Command {
    let script = match name {
        "helm" => "tests/env/helm.sh",
        _ => "tests/env/build-control-plane.sh",
    };
    let path = installed(script);
    let binary = if name == "helm" {
        path
    } else {
        path.join(name)
    };
    let mut cmd = std::process::Command::new(binary);
    cmd.env("KUBECONFIG", kubeconfig_path());
    cmd
}

/// Runs a command with `stdin`; its exit status and combined output.
pub fn run_with_input(mut cmd: std::process::Command, stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// GET with curl; the body, empty on failure.
pub fn get_text(url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sS", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// POSTs `body` with curl; returns the status code and the body.
pub fn post_json(url: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"])
        .args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let mut child = cmd
        .arg(url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        // A too-large body may be cut off by the server's 413: that is fine.
        let _ = stdin.write_all(body);
    }
    let out = child.wait_with_output().expect("curl output");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// An Alertmanager (version 4) notification with one alert for [`ALICE`], as the webhook
/// receives it.
pub fn alert_payload(status: &str, alertname: &str, fingerprint: &str) -> Value {
    let ends_at = if status == "resolved" {
        "2026-11-21T10:30:00Z"
    } else {
        "0001-01-01T00:00:00Z"
    };
    json!({
        "version": "4", "groupKey": "k", "truncatedAlerts": 0, "status": status,
        "receiver": "breakglass", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://am.example.com",
        "alerts": [{
            "status": status,
            "labels": {"alertname": alertname, "severity": "page", "breakglass_user": ALICE},
            "annotations": {"description": "direct"},
            "startsAt": "2026-11-21T10:00:00Z", "endsAt": ends_at,
            "generatorURL": "", "fingerprint": fingerprint,
        }],
    })
}

/// A series' value in an OpenMetrics scrape. `None` when the scrape failed or the metric's
/// family is not served at all (a renamed metric must fail a test, never read as 0); 0 for
/// a labelled series its family has not counted yet.
pub fn try_metric(text: &str, series: &str) -> Option<f64> {
    if let Some(v) = text
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    {
        return Some(v);
    }
    let name = series.split('{').next().unwrap_or(series);
    let family = name.strip_suffix("_total").unwrap_or(name);
    let served = text.lines().any(|l| {
        l.strip_prefix("# TYPE ")
            .and_then(|t| t.split_whitespace().next())
            .is_some_and(|f| f == family || f == name)
    });
    (served && series.contains('{')).then_some(0.0)
}

/// [`try_metric`], failing the test when the scrape failed or the series is not served.
pub fn metric(text: &str, series: &str) -> f64 {
    try_metric(text, series).unwrap_or_else(|| {
        panic!(
            "{series} is not served (failed scrape or unknown metric); the scrape was:\n{}",
            text.chars().take(4000).collect::<String>()
        )
    })
}

/// The AWS side of one test, isolated in its own (moto) account and Identity Store.
pub struct AwsFixture {
    pub account: String,
    pub role_arn: String,
    pub identity_store_id: String,
    pub store: aws_sdk_identitystore::Client,
    /// IAM Identity Center (SSO Admin) in the same account (see `sso.rs`).
    pub sso: aws_sdk_ssoadmin::Client,
}

impl AwsFixture {
    pub async fn new() -> Self {
        Self::with_endpoint(&setting("AWS_ENDPOINT_URL")).await
    }

    pub async fn with_endpoint(endpoint: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seed = nanos
            ^ (u128::from(std::process::id()) << 20)
            ^ u128::from(COUNTER.fetch_add(1, Ordering::Relaxed));
        let account = format!("{:012}", seed % 1_000_000_000_000);
        let identity_store_id = format!("d-{:010x}", seed % 0xff_ffff_ffff);
        let role_arn = format!("arn:aws:iam::{account}:role/breakglass-write");
        let base = base_config(endpoint);
        let sts = aws_sdk_sts::Client::new(&base);
        let creds = sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("breakglass-tests")
            .send()
            .await
            .expect("assume role in moto")
            .credentials
            .expect("credentials");
        let creds = aws_credential_types::Credentials::new(
            creds.access_key_id,
            creds.secret_access_key,
            Some(creds.session_token),
            None,
            "tests",
        );
        let config = aws_sdk_identitystore::config::Builder::from(&base)
            .credentials_provider(creds.clone())
            .build();
        let sso = aws_sdk_ssoadmin::config::Builder::from(&base)
            .credentials_provider(creds)
            .build();
        Self {
            account,
            role_arn,
            identity_store_id,
            store: aws_sdk_identitystore::Client::from_conf(config),
            sso: aws_sdk_ssoadmin::Client::from_conf(sso),
        }
    }

    pub async fn create_user(&self, user_name: &str) -> String {
        self.store
            .create_user()
            .identity_store_id(&self.identity_store_id)
            .user_name(user_name)
            .display_name(user_name)
            .name(
                aws_sdk_identitystore::types::Name::builder()
                    .given_name("Test")
                    .family_name(user_name)
                    .build(),
            )
            .send()
            .await
            .expect("create user")
            .user_id
    }

    pub async fn create_group(&self, name: &str) -> String {
        self.store
            .create_group()
            .identity_store_id(&self.identity_store_id)
            .display_name(name)
            .send()
            .await
            .expect("create group")
            .group_id
    }

    pub async fn add_member(&self, group_id: &str, user_id: &str) {
        self.store
            .create_group_membership()
            .identity_store_id(&self.identity_store_id)
            .group_id(group_id)
            .member_id(aws_sdk_identitystore::types::MemberId::UserId(
                user_id.to_owned(),
            ))
            .send()
            .await
            .expect("create membership");
    }

    /// User ids of the group's members, one entry per membership (duplicates show).
    pub async fn members(&self, group_id: &str) -> Vec<String> {
        self.store
            .list_group_memberships()
            .identity_store_id(&self.identity_store_id)
            .group_id(group_id)
            .send()
            .await
            .expect("list memberships")
            .group_memberships
            .into_iter()
            .filter_map(|m| match m.member_id {
                Some(aws_sdk_identitystore::types::MemberId::UserId(u)) => Some(u),
                _ => None,
            })
            .collect()
    }

    /// Every membership in every group of this store.
    pub async fn all_memberships(&self) -> usize {
        let groups = self
            .store
            .list_groups()
            .identity_store_id(&self.identity_store_id)
            .send()
            .await
            .expect("list groups")
            .groups;
        let mut n = 0;
        for g in groups {
            n += self.members(&g.group_id).await.len();
        }
        n
    }
}

pub fn base_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(setting("AWS_REGION")))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    setting("AWS_ACCESS_KEY_ID"),
                    setting("AWS_SECRET_ACCESS_KEY"),
                    None,
                    None,
                    "tests",
                ),
            ),
        )
        .build()
}
