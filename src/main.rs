use std::{io::Write, process::ExitCode};

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
    Controller {
        /// Only reconcile grants in this namespace (default: all namespaces).
        #[arg(long, env = "BREAKGLASS_NAMESPACE")]
        namespace: Option<String>,
    },
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
        Command::Controller { namespace } => controller(namespace),
    }
}

fn controller(namespace: Option<String>) -> ExitCode {
    // One rustls provider for kube and the AWS SDK.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("error: a rustls crypto provider was already installed");
        return ExitCode::FAILURE;
    }
    breakglass::telemetry::init();
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
        let aws = breakglass::aws::Aws::from_env().await;
        tracing::info!(namespace = namespace.as_deref().unwrap_or("*"), "breakglass controller starting");
        breakglass::controller::run(client, aws, namespace).await;
        tracing::info!("breakglass controller stopped");
        ExitCode::SUCCESS
    })
}
