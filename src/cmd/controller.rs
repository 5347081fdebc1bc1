//! `breakglass controller`: the operator process: admin server, webhook, and the controller
//! (under leader election when asked).

use std::{process::ExitCode, sync::Arc};

use super::args::{ControllerArgs, own_namespace};

pub(super) fn run(args: ControllerArgs) -> ExitCode {
    // One rustls provider for kube, the AWS SDK and the webhook's TLS.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("error: a rustls crypto provider was already installed");
        return ExitCode::FAILURE;
    }
    crate::telemetry::init();
    let lease = args.lease();
    if let Some(cfg) = &lease
        && let Err(err) = cfg.validate()
    {
        tracing::error!(error = %err, "invalid leader election settings");
        return ExitCode::FAILURE;
    }
    // Refuse to start rather than run a webhook nobody can call, or anybody can.
    let token = match &args.webhook_token_file {
        Some(path) => match crate::webhook::Token::load(path) {
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
        let client = match crate::kube_client::connect(args.kube_timeout).await {
            Ok(c) => c,
            Err(err) => {
                tracing::error!(error = %err, "cannot reach Kubernetes (KUBECONFIG or in-cluster config)");
                return ExitCode::FAILURE;
            }
        };
        let metrics = Arc::new(crate::telemetry::Metrics::new());
        let rates = match args.aws_rates() {
            Ok(r) => r,
            Err(flag) => {
                tracing::error!(flag, "must be a positive number of calls per second");
                return ExitCode::FAILURE;
            }
        };
        // A reconcile makes a few AWS calls in a row: the stall limit must leave them room,
        // or a slow but answering AWS would fail /healthz.
        let stall_limit = args.sweep_interval * crate::controller::STALL_INTERVALS;
        let call = crate::aws::call_deadline(args.aws_timeout);
        if stall_limit < call * 3 {
            tracing::warn!(?stall_limit, aws_call_deadline = ?call, "--sweep-interval is short for --aws-timeout: a reconcile whose AWS calls all run to their deadline may fail /healthz; keep 5 x --sweep-interval above 3 calls' deadlines");
        }
        let aws: Arc<dyn crate::aws::IdentityCenter> = Arc::new(
            crate::aws::Aws::from_env(args.aws_timeout)
                .await
                .with_observer(metrics.clone())
                .with_rates(rates),
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
        let installation = match &args.installation_id {
            Some(id) => match breakglass_core::sessions::Installation::new(id) {
                Ok(i) => i,
                Err(err) => {
                    tracing::error!(error = %err, "invalid --installation-id");
                    return ExitCode::FAILURE;
                }
            },
            None => breakglass_core::sessions::Installation::derive(&format!(
                "{ledger_namespace}/{}",
                namespace.as_deref().unwrap_or("*")
            )),
        };
        tracing::info!(installation = installation.as_str(), "session guard statements are named after this installation");
        tracing::info!(namespace = namespace.as_deref().unwrap_or("*"), "breakglass controller starting");
        let http = crate::serve::Limits {
            header_timeout: args.http_header_timeout,
            idle_timeout: args.http_idle_timeout,
            max_connections: args.http_max_connections.into(),
        };
        // The webhook's writes go through an identity of their own when one is named.
        let webhook_client = match (&token, &args.webhook_impersonate) {
            (Some(_), Some(user)) => match crate::kube_client::connect_as(args.kube_timeout, Some(user)).await {
                Ok(c) => c,
                Err(err) => {
                    tracing::error!(error = %err, user, "cannot build the webhook's impersonating Kubernetes client");
                    return ExitCode::FAILURE;
                }
            },
            _ => client.clone(),
        };
        let admin = crate::admin::serve(args.admin_addr, metrics.clone(), http);
        let webhook = async {
            match token {
                Some(token) => {
                    let config = crate::webhook::Config {
                        addr: args.webhook_addr,
                        tls: args
                            .webhook_tls_cert
                            .zip(args.webhook_tls_key)
                            .map(|(cert, key)| crate::webhook::TlsFiles { cert, key }),
                        limits: crate::webhook::Limits {
                            max_concurrent: args.webhook_max_concurrent.into(),
                            timeout: args.webhook_timeout,
                        },
                        http,
                    };
                    let clients = crate::webhook::Clients {
                        watches: client.clone(),
                        writes: webhook_client,
                    };
                    crate::webhook::serve(config, token, clients, metrics.clone()).await
                }
                None => std::future::pending().await,
            }
        };
        let work = || {
            let settings = crate::controller::Settings {
                namespace: namespace.clone(),
                ledger_namespace: ledger_namespace.clone(),
                sweep_interval,
                concurrency: args.concurrency,
                installation: installation.clone(),
                aws_call_deadline: call,
                pause_recheck: args.pause_recheck_interval,
            };
            // Boxed: the controller is a deep future, kept off this one's layout.
            Box::pin(crate::controller::run(
                client.clone(),
                aws.clone(),
                metrics.clone(),
                settings,
            ))
        };
        let controller = async {
            match lease {
                Some(cfg) => crate::leader::run(client.clone(), cfg, metrics.clone(), work).await,
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
