//! The webhook's TLS configuration, reloaded when the certificate or key files change (a
//! cert-manager renewal rewrites the mounted Secret in place; the process keeps running).

use std::{io, path::PathBuf, time::Duration};

use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use tracing::{info, warn};

use super::Error;
use crate::serve::Tls;

/// How often the files are compared with what is served. Renewals happen days before
/// expiry; a few seconds of lag costs nothing, and reading two small files is cheap.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Certificate chain and key, both PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What was read from the files: their digest (a change of either, or of which one a
/// symlink points at, as with a mounted Secret, changes it) and the configuration.
struct Loaded {
    fingerprint: Vec<u8>,
    config: io::Result<ServerConfig>,
}

impl TlsFiles {
    fn error(&self, source: io::Error) -> Error {
        Error::Tls {
            cert: self.cert.display().to_string(),
            key: self.key.display().to_string(),
            source,
        }
    }

    /// Reads both files once, so the digest is of what was parsed.
    fn read(&self) -> io::Result<Loaded> {
        let (cert, key) = (std::fs::read(&self.cert)?, std::fs::read(&self.key)?);
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(&cert);
        ctx.update(&key);
        Ok(Loaded {
            fingerprint: ctx.finish().as_ref().to_vec(),
            config: server_config(&cert, &key),
        })
    }

    /// Loads the files (the process-wide rustls provider, aws-lc-rs, is used) and keeps
    /// reloading them in the background when they change.
    pub fn load_and_watch(self) -> Result<Tls, Error> {
        let loaded = self.read().map_err(|e| self.error(e))?;
        let tls = Tls::new(loaded.config.map_err(|e| self.error(e))?);
        tokio::spawn(watch(self, tls.clone(), loaded.fingerprint));
        Ok(tls)
    }
}

fn server_config(cert: &[u8], key: &[u8]) -> io::Result<ServerConfig> {
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(invalid("no certificate in the certificate file".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid(format!("key: {e}")))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(e.to_string()))?;
    // HTTP/1.1 only: that is what is served (see `crate::serve`).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

async fn watch(files: TlsFiles, tls: Tls, mut seen: Vec<u8>) {
    let mut tick = tokio::time::interval(RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let loaded = match files.read() {
            Ok(l) => l,
            // Mid-rotation a file may be missing for a moment: keep serving the old pair.
            Err(e) => {
                warn!(error = %files.error(e), "webhook TLS files unreadable; serving the previous certificate");
                continue;
            }
        };
        if loaded.fingerprint == seen {
            continue;
        }
        match loaded.config {
            Ok(config) => {
                tls.replace(config);
                info!(cert = %files.cert.display(), "webhook TLS certificate reloaded");
                seen = loaded.fingerprint;
            }
            // A certificate written before its key does not match it yet: retry next tick.
            Err(e) => {
                warn!(error = %files.error(e), "webhook TLS files changed but do not load; serving the previous certificate");
            }
        }
    }
}
