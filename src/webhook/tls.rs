//! The webhook's TLS configuration, reloaded when the certificate or key files change (a
//! cert-manager renewal rewrites the mounted Secret in place; the process keeps running).

use std::{path::PathBuf, time::Duration};

use axum_server::tls_rustls::RustlsConfig;
use tracing::{info, warn};

use super::Error;

/// How often the files are compared with what is served. Renewals happen days before
/// expiry; a few seconds of lag costs nothing, and reading two small files is cheap.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Certificate chain and key, both PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    fn error(&self, source: std::io::Error) -> Error {
        Error::Tls {
            cert: self.cert.display().to_string(),
            key: self.key.display().to_string(),
            source,
        }
    }

    /// A digest of both files' contents; a change of either (or of which one a symlink
    /// points at, as with a mounted Secret) changes it.
    fn fingerprint(&self) -> std::io::Result<Vec<u8>> {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(&std::fs::read(&self.cert)?);
        ctx.update(&std::fs::read(&self.key)?);
        Ok(ctx.finish().as_ref().to_vec())
    }

    /// Loads the files (the process-wide rustls provider, aws-lc-rs, is used) and keeps
    /// reloading them in the background when they change.
    pub async fn load_and_watch(self) -> Result<RustlsConfig, Error> {
        let seen = self.fingerprint().map_err(|e| self.error(e))?;
        let config = RustlsConfig::from_pem_file(&self.cert, &self.key)
            .await
            .map_err(|e| self.error(e))?;
        tokio::spawn(watch(self, config.clone(), seen));
        Ok(config)
    }
}

async fn watch(files: TlsFiles, config: RustlsConfig, mut seen: Vec<u8>) {
    let mut tick = tokio::time::interval(RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = match files.fingerprint() {
            Ok(f) => f,
            // Mid-rotation a file may be missing for a moment: keep serving the old pair.
            Err(e) => {
                warn!(error = %files.error(e), "webhook TLS files unreadable; serving the previous certificate");
                continue;
            }
        };
        if now == seen {
            continue;
        }
        match config.reload_from_pem_file(&files.cert, &files.key).await {
            Ok(()) => {
                info!(cert = %files.cert.display(), "webhook TLS certificate reloaded");
                seen = now;
            }
            // A certificate written before its key does not match it yet: retry next tick.
            Err(e) => {
                warn!(error = %files.error(e), "webhook TLS files changed but do not load; serving the previous certificate");
            }
        }
    }
}
