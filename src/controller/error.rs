//! The controller's errors, one enum per layer and one variant per step, each keeping the
//! failure it wraps as its `source`: a grant's pass (`Error`: load, AWS, ledger, pauses,
//! checkpoint, status, finalizer), the sweep (`SweepError`) and the policies' status
//! (`PolicyError`). A grant's errors name it by its `ObjectRef`.

use std::{fmt, time::Duration};

use kube::runtime::reflector::ObjectRef;

use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy},
    aws, pause,
    targets::Target,
};

use super::ledger;

type Grant = ObjectRef<BreakGlassGrant>;

/// One grant pass, failed in one of its steps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Load: reading what the decision rests on (its policy, a fresh copy, the grants that
    /// share its access or pauses).
    #[error("grant {grant}: {what}: {source}")]
    Load {
        grant: Grant,
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    /// An AWS call of the pass (`op` says which).
    #[error("grant {grant}: {op}: {source}")]
    Aws {
        grant: Grant,
        op: &'static str,
        #[source]
        source: aws::Error,
    },
    /// A write-ahead record (the window, a request id, a pause's original) before a change.
    #[error("grant {grant}: writing the record before the change: {source}")]
    Checkpoint {
        grant: Grant,
        #[source]
        source: kube::Error,
    },
    /// The pass's final status write.
    #[error("grant {grant}: writing the status: {source}")]
    Status {
        grant: Grant,
        #[source]
        source: kube::Error,
    },
    /// Recording the member in the ledger before adding it.
    #[error("grant {grant}: recording the member before adding it: {source}")]
    Ledger {
        grant: Grant,
        #[source]
        source: ledger::Error,
    },
    /// Deleting: the finalizer waits for the session guard to cut the sessions issued
    /// before the end (not a failure; retried shortly).
    #[error("grant {grant}: waiting for the session guard to cut its sessions")]
    SessionsPending { grant: Grant },
    /// Pausing automation, or giving it back.
    #[error("grant {grant}: pausing automation: {source}")]
    Pause {
        grant: Grant,
        #[source]
        source: pause::executor::Error,
    },
    /// The status does not record what was granted, so it cannot be revoked.
    #[error("grant {grant}: status does not record what was granted, so it cannot be revoked")]
    NoRecord { grant: Grant },
    /// AWS failed some account assignments (its reasons, per account); retried with backoff.
    #[error("grant {grant}: AWS failed the assignment on {}", Failures(failures))]
    Assignment {
        grant: Grant,
        failures: Vec<AccountFailure>,
    },
    /// Adding or removing the finalizer.
    #[error("grant {grant}: {source}")]
    Finalizer {
        grant: Grant,
        #[source]
        source: Box<kube::runtime::finalizer::Error<Error>>,
    },
}

/// One account AWS failed to assign, with AWS's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFailure {
    pub account_id: String,
    pub reason: Option<String>,
}

impl fmt::Display for AccountFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = self.reason.as_deref().unwrap_or("no reason given");
        write!(f, "{} ({reason})", self.account_id)
    }
}

/// The failures, as the grant's message shows them.
pub(crate) struct Failures<'a>(pub &'a [AccountFailure]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Load { .. } => "KubernetesError",
            Self::Checkpoint { .. } | Self::Status { .. } => "StatusWriteFailed",
            Self::Aws { source, .. } => source.reason(),
            Self::Finalizer { .. } => "FinalizerError",
            Self::NoRecord { .. } => "NoRecord",
            Self::Assignment { .. } => "AssignmentFailed",
            Self::Pause { .. } => "PauseFailed",
            Self::Ledger { .. } => "LedgerError",
            Self::SessionsPending { .. } => "SessionsPending",
        }
    }
}

/// A sweep pass, failed in one of its steps.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Reading policies or grants.
    #[error("sweep: {what}: {source}")]
    Read {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    /// Listing what AWS has on a target.
    #[error("sweeping {target}: {source}")]
    List {
        target: Target,
        #[source]
        source: aws::Error,
    },
    /// Reading or forgetting the ledger's entries.
    #[error("sweep: the ledger: {source}")]
    Ledger {
        #[source]
        source: ledger::Error,
    },
    /// Re-reading one grant before marking it.
    #[error("sweep: re-reading grant {grant} before ending it: {source}")]
    LoadGrant {
        grant: Grant,
        #[source]
        source: kube::Error,
    },
    /// Marking a grant whose access AWS no longer lists.
    #[error("sweep: marking grant {grant} as revoked on AWS: {source}")]
    MarkGrant {
        grant: Grant,
        #[source]
        source: kube::Error,
    },
}

/// Writing a policy's status (`UnmanagedMembers`).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("writing the status of policy {policy}: {source}")]
    Status {
        policy: ObjectRef<BreakGlassPolicy>,
        #[source]
        source: kube::Error,
    },
}

/// 1s, 2s, 4s … capped at one minute.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}
