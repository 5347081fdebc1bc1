//! What went wrong with one target, kept with that target, and the per-call timeout.

use std::{future::Future, time::Duration};

use kube::discovery::ApiResource;

use crate::api::PauseProblem;

/// One API call on a target may take this long; then the target is `Failed` (`Timeout`).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Why one target could not be read, checked or patched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: PauseProblem,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.reason, self.message)
    }
}

impl Problem {
    pub fn new(reason: PauseProblem, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// The object or its kind is missing (state `NotFound`), rather than failing.
    pub fn is_missing(&self) -> bool {
        matches!(
            self.reason,
            PauseProblem::NotFound | PauseProblem::KindNotInstalled
        )
    }

    /// Nothing to pause here (the object is not what the policy's entry implies), rather
    /// than failing: the target is `Skipped` with the reason.
    pub fn is_skip(&self) -> bool {
        self.reason == PauseProblem::NotManaged
    }

    /// From an API error while `verb`-ing `what`; a 403 names the RBAC rule to add.
    pub(super) fn api(
        verb: &str,
        what: &str,
        resource: Option<&ApiResource>,
        e: kube::Error,
    ) -> Self {
        match &e {
            kube::Error::Api(s) if s.is_forbidden() => {
                let rule = resource
                    .map(|ar| {
                        format!(
                            "; the operator's ServiceAccount needs get, list and patch on {{apiGroups: [\"{}\"], resources: [\"{}\"]}} (chart value rbac.pauseTargets)",
                            ar.group, ar.plural
                        )
                    })
                    .unwrap_or_default();
                Self::new(
                    PauseProblem::Forbidden,
                    format!("may not {verb} {what}{rule}"),
                )
            }
            kube::Error::Api(s) if s.is_conflict() => Self::new(
                PauseProblem::Conflict,
                format!("{what} changed while {verb}ing it"),
            ),
            kube::Error::Api(s) if s.is_invalid() => Self::new(
                PauseProblem::Invalid,
                format!("{verb} {what} refused: {}", s.message),
            ),
            _ => Self::new(PauseProblem::KubernetesError, format!("{verb} {what}: {e}")),
        }
    }
}

/// Runs one API call with [`CALL_TIMEOUT`].
pub(super) async fn timed<T>(
    what: impl FnOnce() -> String,
    call: impl Future<Output = Result<T, Problem>>,
) -> Result<T, Problem> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(r) => r,
        Err(_) => Err(Problem::new(
            PauseProblem::Timeout,
            format!(
                "{} did not answer within {}s",
                what(),
                CALL_TIMEOUT.as_secs()
            ),
        )),
    }
}
