//! The controller's flags (each with its environment variable) and what they resolve to.

use std::{net::SocketAddr, path::PathBuf};

#[derive(clap::Args)]
pub(super) struct ControllerArgs {
    /// Only reconcile grants in this namespace (default: all namespaces).
    #[arg(long, env = "BREAKGLASS_NAMESPACE")]
    pub(super) namespace: Option<String>,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = "BREAKGLASS_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    pub(super) admin_addr: SocketAddr,
    /// Address of the Alertmanager webhook (POST /v1/alertmanager).
    #[arg(long, env = "BREAKGLASS_WEBHOOK_ADDR", default_value = "0.0.0.0:8443")]
    pub(super) webhook_addr: SocketAddr,
    /// File holding the webhook's bearer token (re-read when it changes). Without it the
    /// webhook is off; with a missing or empty file the controller refuses to start.
    #[arg(long, env = "BREAKGLASS_WEBHOOK_TOKEN_FILE")]
    pub(super) webhook_token_file: Option<PathBuf>,
    /// PEM certificate chain for the webhook (TLS when set, with --webhook-tls-key).
    #[arg(
        long,
        env = "BREAKGLASS_WEBHOOK_TLS_CERT",
        requires = "webhook_tls_key"
    )]
    pub(super) webhook_tls_cert: Option<PathBuf>,
    /// PEM private key for the webhook.
    #[arg(
        long,
        env = "BREAKGLASS_WEBHOOK_TLS_KEY",
        requires = "webhook_tls_cert"
    )]
    pub(super) webhook_tls_key: Option<PathBuf>,
    /// Kubernetes user the webhook acts as (impersonation), e.g.
    /// `system:serviceaccount:breakglass:breakglass-operator-webhook`: its grant writes and
    /// the `spec.requestedBy` it records are that user's, under that user's RBAC. Unset:
    /// the operator's own identity.
    #[arg(long, env = "BREAKGLASS_WEBHOOK_IMPERSONATE", value_parser = impersonated)]
    pub(super) webhook_impersonate: Option<String>,
    /// Alertmanager notifications handled at once; more are answered 429 (Alertmanager
    /// sends them again at its next group interval).
    #[arg(long, env = "BREAKGLASS_WEBHOOK_MAX_CONCURRENT", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) webhook_max_concurrent: u16,
    /// Deadline of one webhook request, e.g. `25s`; past it the answer is 503 and
    /// Alertmanager retries (what was written stays).
    #[arg(long, env = "BREAKGLASS_WEBHOOK_TIMEOUT", default_value = "25s", value_parser = sweep_interval)]
    pub(super) webhook_timeout: std::time::Duration,
    /// Time a client has to send a request's head (and, with TLS, to finish the handshake)
    /// on the webhook and admin servers, e.g. `10s`; a kept-alive connection must send its
    /// next head within it too. Past it the connection is closed.
    #[arg(long, env = "BREAKGLASS_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = sweep_interval)]
    pub(super) http_header_timeout: std::time::Duration,
    /// A webhook or admin connection on which no byte moves for this long while no request
    /// is being handled (a client not reading its answer) is closed, e.g. `60s`.
    #[arg(long, env = "BREAKGLASS_HTTP_IDLE_TIMEOUT", default_value = "60s", value_parser = sweep_interval)]
    pub(super) http_idle_timeout: std::time::Duration,
    /// Open connections per server (webhook, admin), at most; more wait in the listen
    /// backlog until one closes.
    #[arg(long, env = "BREAKGLASS_HTTP_MAX_CONNECTIONS", default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) http_max_connections: u16,
    /// Reconcile only while holding a Lease, so several replicas can run (one leads).
    #[arg(long, env = "BREAKGLASS_LEADER_ELECT")]
    pub(super) leader_elect: bool,
    /// Name of the Lease used for leader election.
    #[arg(
        long,
        env = "BREAKGLASS_LEASE_NAME",
        default_value = "breakglass-operator"
    )]
    pub(super) lease_name: String,
    /// Namespace of the Lease (default: the Pod's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub(super) lease_namespace: Option<String>,
    /// This replica's identity in the Lease (default: the Pod name, else host name and PID).
    #[arg(long, env = "POD_NAME")]
    pub(super) lease_identity: Option<String>,
    /// Overall cap: AWS calls per second across every account and API (STS included), on
    /// top of the budgets below. Unset: none (each budget paces itself).
    #[arg(long, env = "BREAKGLASS_AWS_RATE")]
    pub(super) aws_rate: Option<f64>,
    /// Identity Store calls per second per Identity Store (AWS allows 20 per account).
    #[arg(long, env = "BREAKGLASS_AWS_RATE_IDENTITYSTORE", default_value_t = crate::aws::Rates::default().identity_store)]
    pub(super) aws_rate_identitystore: f64,
    /// SSO Admin calls per second per account (AWS allows 20 per account).
    #[arg(long, env = "BREAKGLASS_AWS_RATE_SSOADMIN", default_value_t = crate::aws::Rates::default().sso_admin)]
    pub(super) aws_rate_ssoadmin: f64,
    /// STS AssumeRole calls per second, the operator's own account (AWS allows 600 per
    /// account and Region, shared with everything else that account runs).
    #[arg(long, env = "BREAKGLASS_AWS_RATE_STS", default_value_t = crate::aws::Rates::default().sts)]
    pub(super) aws_rate_sts: f64,
    /// Deadline of one AWS call attempt (connecting included), e.g. `10s`; a call's three
    /// attempts and the pauses between them are bounded together. A call past it fails with
    /// reason `AwsTimeout` and is retried with the grant's backoff.
    #[arg(long, env = "BREAKGLASS_AWS_TIMEOUT", default_value = "10s", value_parser = sweep_interval)]
    pub(super) aws_timeout: std::time::Duration,
    /// Deadline of one Kubernetes API request other than a watch, e.g. `30s`.
    #[arg(long, env = "BREAKGLASS_KUBE_TIMEOUT", default_value = "30s", value_parser = sweep_interval)]
    pub(super) kube_timeout: std::time::Duration,
    /// How often every AWS target (group) is listed and compared with the grants, e.g.
    /// `60s`, `5m`.
    #[arg(long, env = "BREAKGLASS_SWEEP_INTERVAL", default_value = "60s", value_parser = sweep_interval)]
    pub(super) sweep_interval: std::time::Duration,
    /// How often an Active grant reads its pause targets when their kinds are watched and
    /// nothing changed, e.g. `1h`: a safety net only, since a change to a paused object
    /// reconciles its grants at once. A target that failed, or whose kind is not watched
    /// (no `watch` RBAC, CRD missing), is still read every 30 s.
    #[arg(long, env = "BREAKGLASS_PAUSE_RECHECK_INTERVAL", default_value = "1h", value_parser = sweep_interval)]
    pub(super) pause_recheck_interval: std::time::Duration,
    /// Grant reconciles run at once, at most. Bounds memory in a burst (each in-flight
    /// reconcile holds its requests and answers); AWS is paced by its budgets anyway.
    #[arg(long, env = "BREAKGLASS_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) concurrency: u16,
    /// Namespace of the ledger (one ConfigMap per group member the operator added).
    /// Default: the Pod's namespace, else the watched namespace, else `default`.
    #[arg(long, env = "BREAKGLASS_LEDGER_NAMESPACE")]
    pub(super) ledger_namespace: Option<String>,
    /// Names this installation's statements in guarded permission sets (1–16 letters and
    /// digits); each installation writes and prunes only its own. Set one per cluster when
    /// clusters guard the same permission set. Default: derived from the ledger namespace
    /// and the watched namespace (stable across restarts).
    #[arg(long, env = "BREAKGLASS_INSTALLATION_ID")]
    pub(super) installation_id: Option<String>,
    /// Seconds the Lease stays valid after a renewal; a new leader takes over within it.
    #[arg(long, env = "BREAKGLASS_LEASE_DURATION", default_value_t = 15)]
    pub(super) lease_duration: u64,
    /// Seconds before expiry at which the leader renews (also the clock skew tolerated).
    #[arg(long, env = "BREAKGLASS_LEASE_GRACE", default_value_t = 5)]
    pub(super) lease_grace: u64,
}

const SA_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// A Go duration of at least one second (`--sweep-interval`, `--webhook-timeout`, the
/// deadlines and `--http-*-timeout`).
fn sweep_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = crate::api::GoDuration::parse(s)
        .map_err(|e| e.to_string())?
        .as_std();
    if d < std::time::Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(d)
}

/// A username to impersonate: sent as an HTTP header, so printable and on one line.
fn impersonated(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be a non-empty username of printable ASCII without spaces".into());
    }
    Ok(s.to_owned())
}

pub(super) fn own_namespace() -> Option<String> {
    std::fs::read_to_string(SA_NAMESPACE_FILE)
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
}

impl ControllerArgs {
    /// The AWS budgets, or the flag whose value is not a positive rate.
    pub(super) fn aws_rates(&self) -> Result<crate::aws::Rates, &'static str> {
        let positive = |x: f64, flag| (x.is_finite() && x > 0.0).then_some(x).ok_or(flag);
        Ok(crate::aws::Rates {
            identity_store: positive(self.aws_rate_identitystore, "--aws-rate-identitystore")?,
            sso_admin: positive(self.aws_rate_ssoadmin, "--aws-rate-ssoadmin")?,
            sts: positive(self.aws_rate_sts, "--aws-rate-sts")?,
            overall: self
                .aws_rate
                .map(|r| positive(r, "--aws-rate"))
                .transpose()?,
            ..Default::default()
        })
    }

    pub(super) fn lease(&self) -> Option<crate::leader::Config> {
        if !self.leader_elect {
            return None;
        }
        let namespace = self
            .lease_namespace
            .clone()
            .or_else(|| std::fs::read_to_string(SA_NAMESPACE_FILE).ok())
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| "default".into());
        let identity = self.lease_identity.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "breakglass".into());
            format!("{host}-{}", std::process::id())
        });
        Some(crate::leader::Config {
            lease_name: self.lease_name.clone(),
            namespace,
            identity,
            duration: self.lease_duration,
            grace: self.lease_grace,
        })
    }
}
