use std::{io::Write, net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};

/// breakglass: break-glass access on AWS IAM Identity Center, with GitOps/IaC automation
/// paused for the duration of an incident.
#[derive(Parser)]
#[command(name = "breakglass", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML (the content of crds/).
    Crds,
    /// Run the operator. AWS settings come from the standard AWS environment.
    Controller(Box<ControllerArgs>),
    /// Print the ValidatingAdmissionPolicy and binding that check who asks for a grant (for
    /// installs without Helm; the chart ships the same policy).
    AdmissionPolicy {
        /// Name of the policy and its binding.
        #[arg(long, default_value = breakglass::requester::admission::NAME)]
        name: String,
        /// Dropped from Kubernetes usernames before comparing with spec.user, e.g. `oidc:`.
        #[arg(long, default_value = "")]
        username_prefix: String,
    },
}

#[derive(clap::Args)]
struct ControllerArgs {
    /// Only reconcile grants in this namespace (default: all namespaces).
    #[arg(long, env = "BREAKGLASS_NAMESPACE")]
    namespace: Option<String>,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = "BREAKGLASS_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    admin_addr: SocketAddr,
    /// Address of the Alertmanager webhook (POST /v1/alertmanager).
    #[arg(long, env = "BREAKGLASS_WEBHOOK_ADDR", default_value = "0.0.0.0:8443")]
    webhook_addr: SocketAddr,
    /// File holding the webhook's bearer token (re-read when it changes). Without it the
    /// webhook is off; with a missing or empty file the controller refuses to start.
    #[arg(long, env = "BREAKGLASS_WEBHOOK_TOKEN_FILE")]
    webhook_token_file: Option<PathBuf>,
    /// PEM certificate chain for the webhook (TLS when set, with --webhook-tls-key).
    #[arg(
        long,
        env = "BREAKGLASS_WEBHOOK_TLS_CERT",
        requires = "webhook_tls_key"
    )]
    webhook_tls_cert: Option<PathBuf>,
    /// PEM private key for the webhook.
    #[arg(
        long,
        env = "BREAKGLASS_WEBHOOK_TLS_KEY",
        requires = "webhook_tls_cert"
    )]
    webhook_tls_key: Option<PathBuf>,
    /// Alertmanager notifications handled at once; more are answered 429 (Alertmanager
    /// sends them again at its next group interval).
    #[arg(long, env = "BREAKGLASS_WEBHOOK_MAX_CONCURRENT", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    webhook_max_concurrent: u16,
    /// Deadline of one webhook request, e.g. `25s`; past it the answer is 503 and
    /// Alertmanager retries (what was written stays).
    #[arg(long, env = "BREAKGLASS_WEBHOOK_TIMEOUT", default_value = "25s", value_parser = sweep_interval)]
    webhook_timeout: std::time::Duration,
    /// Time a client has to send a request's head (and, with TLS, to finish the handshake)
    /// on the webhook and admin servers, e.g. `10s`; a kept-alive connection must send its
    /// next head within it too. Past it the connection is closed.
    #[arg(long, env = "BREAKGLASS_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = sweep_interval)]
    http_header_timeout: std::time::Duration,
    /// A webhook or admin connection on which no byte moves for this long while no request
    /// is being handled (a client not reading its answer) is closed, e.g. `60s`.
    #[arg(long, env = "BREAKGLASS_HTTP_IDLE_TIMEOUT", default_value = "60s", value_parser = sweep_interval)]
    http_idle_timeout: std::time::Duration,
    /// Open connections per server (webhook, admin), at most; more wait in the listen
    /// backlog until one closes.
    #[arg(long, env = "BREAKGLASS_HTTP_MAX_CONNECTIONS", default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..))]
    http_max_connections: u16,
    /// Reconcile only while holding a Lease, so several replicas can run (one leads).
    #[arg(long, env = "BREAKGLASS_LEADER_ELECT")]
    leader_elect: bool,
    /// Name of the Lease used for leader election.
    #[arg(
        long,
        env = "BREAKGLASS_LEASE_NAME",
        default_value = "breakglass-operator"
    )]
    lease_name: String,
    /// Namespace of the Lease (default: the Pod's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// This replica's identity in the Lease (default: the Pod name, else host name and PID).
    #[arg(long, env = "POD_NAME")]
    lease_identity: Option<String>,
    /// AWS calls per second, across all targets (STS included); bursts of up to one
    /// second's worth. Identity Store allows about 20 per second per account.
    #[arg(long, env = "BREAKGLASS_AWS_RATE", default_value_t = 10.0)]
    aws_rate: f64,
    /// Deadline of one AWS call attempt (connecting included), e.g. `10s`; a call's three
    /// attempts and the pauses between them are bounded together. A call past it fails with
    /// reason `AwsTimeout` and is retried with the grant's backoff.
    #[arg(long, env = "BREAKGLASS_AWS_TIMEOUT", default_value = "10s", value_parser = sweep_interval)]
    aws_timeout: std::time::Duration,
    /// Deadline of one Kubernetes API request other than a watch, e.g. `30s`.
    #[arg(long, env = "BREAKGLASS_KUBE_TIMEOUT", default_value = "30s", value_parser = sweep_interval)]
    kube_timeout: std::time::Duration,
    /// How often every AWS target (group) is listed and compared with the grants, e.g.
    /// `60s`, `5m`.
    #[arg(long, env = "BREAKGLASS_SWEEP_INTERVAL", default_value = "60s", value_parser = sweep_interval)]
    sweep_interval: std::time::Duration,
    /// Grant reconciles run at once, at most. Bounds memory in a burst (each in-flight
    /// reconcile holds its requests and answers); AWS is paced by `--aws-rate` anyway.
    #[arg(long, env = "BREAKGLASS_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Namespace of the ledger (one ConfigMap per group member the operator added).
    /// Default: the Pod's namespace, else the watched namespace, else `default`.
    #[arg(long, env = "BREAKGLASS_LEDGER_NAMESPACE")]
    ledger_namespace: Option<String>,
    /// Seconds the Lease stays valid after a renewal; a new leader takes over within it.
    #[arg(long, env = "BREAKGLASS_LEASE_DURATION", default_value_t = 15)]
    lease_duration: u64,
    /// Seconds before expiry at which the leader renews (also the clock skew tolerated).
    #[arg(long, env = "BREAKGLASS_LEASE_GRACE", default_value_t = 5)]
    lease_grace: u64,
}

const SA_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// A Go duration of at least one second (`--sweep-interval`, `--webhook-timeout`, the
/// deadlines and `--http-*-timeout`).
fn sweep_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = breakglass::api::GoDuration::parse(s)
        .map_err(|e| e.to_string())?
        .as_std();
    if d < std::time::Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(d)
}

fn own_namespace() -> Option<String> {
    std::fs::read_to_string(SA_NAMESPACE_FILE)
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
}

impl ControllerArgs {
    fn lease(&self) -> Option<breakglass::leader::Config> {
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
        Some(breakglass::leader::Config {
            lease_name: self.lease_name.clone(),
            namespace,
            identity,
            duration: self.lease_duration,
            grace: self.lease_grace,
        })
    }
}

fn main() -> ExitCode {
    // Installed as `kubectl-breakglass`, the binary is the kubectl plugin.
    let invoked_as = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if invoked_as.starts_with("kubectl-breakglass") {
        return breakglass::cli::run(std::env::args_os());
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => match breakglass::api::crds_yaml() {
            Ok(yaml) => {
                if let Err(err) = std::io::stdout().write_all(yaml.as_bytes()) {
                    eprintln!("error: writing CRDs: {err}");
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: serializing CRDs: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Controller(args) => controller(*args),
        Command::AdmissionPolicy {
            name,
            username_prefix,
        } => {
            let options = breakglass::requester::admission::Options {
                name,
                username_prefix,
                namespace_selector: None,
            };
            let printed = breakglass::requester::admission::yaml(&options)
                .map_err(|e| e.to_string())
                .and_then(|y| {
                    std::io::stdout()
                        .write_all(y.as_bytes())
                        .map_err(|e| format!("writing the admission policy: {e}"))
                });
            match printed {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn controller(args: ControllerArgs) -> ExitCode {
    // One rustls provider for kube, the AWS SDK and the webhook's TLS.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("error: a rustls crypto provider was already installed");
        return ExitCode::FAILURE;
    }
    breakglass::telemetry::init();
    let lease = args.lease();
    if let Some(cfg) = &lease
        && let Err(err) = cfg.validate()
    {
        tracing::error!(error = %err, "invalid leader election settings");
        return ExitCode::FAILURE;
    }
    // Refuse to start rather than run a webhook nobody can call, or anybody can.
    let token = match &args.webhook_token_file {
        Some(path) => match breakglass::webhook::Token::load(path) {
            Ok(t) => Some(t),
            Err(err) => {
                tracing::error!(error = %err, "the webhook token is required to serve the webhook");
                return ExitCode::FAILURE;
            }
        },
        None => {
            tracing::info!("webhook off: no --webhook-token-file");
            None
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let client = match breakglass::kube_client::connect(args.kube_timeout).await {
            Ok(c) => c,
            Err(err) => {
                tracing::error!(error = %err, "cannot reach Kubernetes (KUBECONFIG or in-cluster config)");
                return ExitCode::FAILURE;
            }
        };
        let metrics = Arc::new(breakglass::telemetry::Metrics::new());
        if !(args.aws_rate.is_finite() && args.aws_rate > 0.0) {
            tracing::error!(rate = args.aws_rate, "--aws-rate must be a positive number of calls per second");
            return ExitCode::FAILURE;
        }
        // A reconcile makes a few AWS calls in a row: the stall limit must leave them room,
        // or a slow but answering AWS would fail /healthz.
        let stall_limit = args.sweep_interval * breakglass::controller::STALL_INTERVALS;
        let call = breakglass::aws::call_deadline(args.aws_timeout);
        if stall_limit < call * 3 {
            tracing::warn!(?stall_limit, aws_call_deadline = ?call, "--sweep-interval is short for --aws-timeout: a reconcile whose AWS calls all run to their deadline may fail /healthz; keep 5 x --sweep-interval above 3 calls' deadlines");
        }
        let aws: Arc<dyn breakglass::aws::IdentityCenter> = Arc::new(
            breakglass::aws::Aws::from_env(args.aws_timeout)
                .await
                .with_observer(metrics.clone())
                .with_rate(args.aws_rate),
        );
        let namespace = args.namespace;
        let ledger_namespace = args
            .ledger_namespace
            .clone()
            .or_else(|| args.lease_namespace.clone())
            .or_else(own_namespace)
            .or_else(|| namespace.clone())
            .unwrap_or_else(|| "default".into());
        let sweep_interval = args.sweep_interval;
        tracing::info!(namespace = namespace.as_deref().unwrap_or("*"), "breakglass controller starting");
        let http = breakglass::serve::Limits {
            header_timeout: args.http_header_timeout,
            idle_timeout: args.http_idle_timeout,
            max_connections: args.http_max_connections.into(),
        };
        let admin = breakglass::admin::serve(args.admin_addr, metrics.clone(), http);
        let webhook = async {
            match token {
                Some(token) => {
                    let config = breakglass::webhook::Config {
                        addr: args.webhook_addr,
                        tls: args
                            .webhook_tls_cert
                            .zip(args.webhook_tls_key)
                            .map(|(cert, key)| breakglass::webhook::TlsFiles { cert, key }),
                        limits: breakglass::webhook::Limits {
                            max_concurrent: args.webhook_max_concurrent.into(),
                            timeout: args.webhook_timeout,
                        },
                        http,
                    };
                    breakglass::webhook::serve(config, token, client.clone(), metrics.clone())
                        .await
                }
                None => std::future::pending().await,
            }
        };
        let work = || {
            let settings = breakglass::controller::Settings {
                namespace: namespace.clone(),
                ledger_namespace: ledger_namespace.clone(),
                sweep_interval,
                concurrency: args.concurrency,
            };
            // Boxed: the controller is a deep future, kept off this one's layout.
            Box::pin(breakglass::controller::run(
                client.clone(),
                aws.clone(),
                metrics.clone(),
                settings,
            ))
        };
        let controller = async {
            match lease {
                Some(cfg) => breakglass::leader::run(client.clone(), cfg, metrics.clone(), work).await,
                None => {
                    metrics.set_leader(true);
                    work().await;
                    Ok(())
                }
            }
        };
        tokio::select! {
            result = controller => match result {
                Ok(()) => {
                    tracing::info!("breakglass controller stopped");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    tracing::error!(error = %err, "leader election failed");
                    ExitCode::FAILURE
                }
            },
            Err(err) = admin => {
                tracing::error!(error = %err, "admin endpoint failed");
                ExitCode::FAILURE
            }
            Err(err) = webhook => {
                tracing::error!(error = %err, "webhook failed");
                ExitCode::FAILURE
            }
        }
    })
}
