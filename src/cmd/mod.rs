//! The `breakglass` binary's commands: `crds`, `controller`, `admission-policy`; invoked as
//! `kubectl-breakglass` it is the kubectl plugin (`breakglass-plugin`). `src/main.rs` only
//! calls [`main`].

mod args;
mod controller;

use std::{io::Write, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use self::args::ControllerArgs;

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
    /// Print the ValidatingAdmissionPolicy and binding that check who asks for a grant and
    /// who may change it (for installs without Helm; the chart ships the same policy).
    AdmissionPolicy {
        /// Name of the policy and its binding.
        #[arg(long, default_value = crate::requester::admission::NAME)]
        name: String,
        /// Dropped from Kubernetes usernames before comparing with spec.user, e.g. `oidc:`.
        #[arg(long, default_value = "")]
        username_prefix: String,
        /// Kubernetes username of the operator itself (repeat for the webhook's if it runs
        /// as another identity), e.g. system:serviceaccount:breakglass:breakglass-operator:
        /// only these may write breakglass.dev/ labels and annotations on grants. Required:
        /// without it the policy would refuse the operator's own writes.
        #[arg(long = "operator-username", required = true)]
        operator_usernames: Vec<String>,
    },
}

/// Runs the command line the process was started with.
pub fn main() -> ExitCode {
    // Installed as `kubectl-breakglass`, the binary is the kubectl plugin.
    let invoked_as = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if invoked_as.starts_with("kubectl-breakglass") {
        return crate::cli::run(std::env::args_os());
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => match crate::api::crds_yaml() {
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
        Command::Controller(args) => controller::run(*args),
        Command::AdmissionPolicy {
            name,
            username_prefix,
            operator_usernames,
        } => {
            let options = crate::requester::admission::Options {
                name,
                username_prefix,
                operator_usernames,
                namespace_selector: None,
            };
            let printed = crate::requester::admission::yaml(&options)
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
