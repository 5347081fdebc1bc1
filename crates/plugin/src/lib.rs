//! `kubectl breakglass` (the `kubectl-breakglass` binary; `breakglass` installed under that
//! name is the same program), for the people who ask for access and those who audit it. It
//! links the API types and a Kubernetes client only: no AWS SDK, no controller.
//! kubectl conventions: `-n`, `-A`, `--context`, `--kubeconfig`, `--as`, `-o json|yaml`
//! where it lists; exit codes 0 (done), 1 (failed), 2 (usage), 3 (the grant was denied or
//! ended before it was active).

mod report;
mod request;
mod show;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Requester(#[from] breakglass_api::requester::Error),
    #[error("{0}")]
    Output(String),
    /// The grant was refused or ended before it was active: exit code 3.
    #[error("{0}")]
    NotGranted(String),
}

pub(crate) fn kube_error(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Kube { action, source }
}

/// `kubectl breakglass`: ask for break-glass access, follow it, end it, and report on it.
#[derive(Parser, Debug)]
#[command(name = "kubectl breakglass", version)]
pub struct Plugin {
    /// Namespace of the grants (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
    /// Every namespace (list only).
    #[arg(short = 'A', long = "all-namespaces", global = true)]
    all_namespaces: bool,
    /// Kubeconfig context to use.
    #[arg(long, global = true)]
    context: Option<String>,
    /// Path to the kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// Act as this user (impersonation), as kubectl's --as.
    #[arg(long = "as", global = true)]
    as_user: Option<String>,
    /// Groups to act as, with --as.
    #[arg(long = "as-group", global = true)]
    as_group: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Ask for access under a policy, for yourself (or --for someone, as incident commander).
    Request(request::Args),
    /// End a grant early: access is removed and automation given back.
    Resolve { name: String },
    /// Give back the automation an ended grant holds for review (restore: WhenInSync or
    /// Manual), whatever its drift.
    Restore { name: String },
    /// Grants: name, user, policy, phase, expiry, who asked.
    List {
        #[arg(short = 'o', long)]
        output: Option<Format>,
    },
    /// One grant: conditions, access per group or account, paused targets, CloudTrail session.
    Status {
        name: String,
        #[arg(short = 'o', long)]
        output: Option<Format>,
    },
    /// The incident's record: a timeline from the grant's status and Events, as Markdown
    /// (for a post-mortem) or JSON.
    Report {
        name: String,
        #[arg(short = 'o', long, default_value = "markdown")]
        output: ReportFormat,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Json,
    Yaml,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReportFormat {
    Markdown,
    Json,
}

/// A connection: the client and the namespace commands act in.
pub(crate) struct Session {
    pub client: Client,
    pub namespace: String,
}

async fn connect(p: &Plugin) -> Result<Session, Error> {
    let kubeconfig = match &p.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|e| Error::Kubeconfig(e.to_string()))?;
    let options = KubeConfigOptions {
        context: p.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| Error::Kubeconfig(e.to_string()))?;
    if let Some(user) = &p.as_user {
        config.auth_info.impersonate = Some(user.clone());
        if !p.as_group.is_empty() {
            config.auth_info.impersonate_groups = Some(p.as_group.clone());
        }
    }
    let namespace = p
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    Ok(Session { client, namespace })
}

/// Runs the plugin with `args` (the first is the program name).
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let plugin = match Plugin::try_parse_from(args) {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(&plugin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::NotGranted(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(p: &Plugin) -> Result<(), Error> {
    let s = connect(p).await?;
    match &p.command {
        Command::Request(args) => request::request(&s, args).await,
        Command::Resolve { name } => request::resolve(&s, name).await,
        Command::Restore { name } => request::restore(&s, name).await,
        Command::List { output } => show::list(&s, p.all_namespaces, *output).await,
        Command::Status { name, output } => show::status(&s, name, *output).await,
        Command::Report { name, output } => {
            report::report(&s, name, matches!(output, ReportFormat::Json)).await
        }
    }
}

/// Writes a line to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub(crate) fn say(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn print(value: &impl serde::Serialize, format: Format) -> Result<(), Error> {
    let text = match format {
        Format::Json => {
            serde_json::to_string_pretty(value).map_err(|e| Error::Output(e.to_string()))?
        }
        Format::Yaml => serde_yaml::to_string(value).map_err(|e| Error::Output(e.to_string()))?,
    };
    say(text.trim_end());
    Ok(())
}
