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
    Controller(ControllerArgs),
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
}

fn main() -> ExitCode {
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
        Command::Controller(args) => controller(args),
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
        let client = match kube::Client::try_default().await {
            Ok(c) => c,
            Err(err) => {
                tracing::error!(error = %err, "cannot reach Kubernetes (KUBECONFIG or in-cluster config)");
                return ExitCode::FAILURE;
            }
        };
        let metrics = Arc::new(breakglass::telemetry::Metrics::new());
        let aws = breakglass::aws::Aws::from_env().await;
        let namespace = args.namespace;
        tracing::info!(namespace = namespace.as_deref().unwrap_or("*"), "breakglass controller starting");
        let admin = breakglass::admin::serve(args.admin_addr, metrics.clone());
        let webhook = async {
            match token {
                Some(token) => {
                    let config = breakglass::webhook::Config {
                        addr: args.webhook_addr,
                        tls: args.webhook_tls_cert.zip(args.webhook_tls_key),
                    };
                    breakglass::webhook::serve(config, token, client.clone(), metrics.clone())
                        .await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = breakglass::controller::run(client.clone(), aws, namespace) => {
                tracing::info!("breakglass controller stopped");
                ExitCode::SUCCESS
            }
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
