//! The controller's error: what failed, for which object, and why; and the retry backoff.
//! A grant's pipeline fails in one of its steps: load (`Load`), apply (`Aws`, `Ledger`,
//! `Pause`, `NoRecord`) or status (`Status`); the sweep and the policies' status have
//! their own variants. Each keeps the failure it wraps as its `source`.

use std::time::Duration;

use crate::{aws, pause};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Load: reading what a grant's decision rests on (its policy, a fresh copy, the grants
    /// that share its access or pauses).
    #[error("{action} grant {namespace}/{name}: {source}")]
    Load {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Status: writing a grant's record (its status, or the sweep's revoked-on-AWS mark).
    #[error("{action} grant {namespace}/{name}: {source}")]
    Status {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// The sweep's reads of policies and grants.
    #[error("sweep: {action}: {source}")]
    SweepRead {
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    /// Writing a policy's status (`UnmanagedMembers`).
    #[error("writing the status of policy {name}: {source}")]
    PolicyStatus {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("grant {namespace}/{name}: {source}")]
    Aws {
        namespace: String,
        name: String,
        #[source]
        source: aws::Error,
    },
    #[error("grant {0}: {1}")]
    Finalizer(String, String),
    #[error("grant {0}: status does not record what was granted, so it cannot be revoked")]
    NoRecord(String),
    /// AWS failed some account assignments (its reasons, per account); retried with backoff.
    #[error("grant {grant}: AWS failed the assignment on {failures}")]
    Assignment { grant: String, failures: String },
    #[error("grant {grant}: recording the member before adding it: {source}")]
    Ledger {
        grant: String,
        #[source]
        source: super::ledger::Error,
    },
    #[error("sweeping {target}: {source}")]
    Sweep {
        target: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("grant {grant}: pausing automation: {source}")]
    Pause {
        grant: String,
        #[source]
        source: pause::executor::Error,
    },
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Load { .. } | Self::SweepRead { .. } => "KubernetesError",
            Self::Status { .. } | Self::PolicyStatus { .. } => "StatusWriteFailed",
            Self::Aws { source, .. } => source.reason(),
            Self::Finalizer(..) => "FinalizerError",
            Self::NoRecord(_) => "NoRecord",
            Self::Assignment { .. } => "AssignmentFailed",
            Self::Pause { .. } => "PauseFailed",
            Self::Ledger { .. } => "LedgerError",
            Self::Sweep { .. } => "SweepFailed",
        }
    }
}

/// 1s, 2s, 4s … capped at one minute.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}
