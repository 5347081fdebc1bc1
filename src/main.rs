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
    }
}
