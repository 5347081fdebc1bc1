//! One permission set's guard on AWS: read the inline policy, write what the grants on it
//! need (read-modify-write, retried on ConflictException, every other statement kept), and
//! provision it. Provisioning is asynchronous: a new request id goes back to the caller to
//! be recorded on the waiting grants before it is awaited (`await_provisioning`).

use std::time::Duration;

use breakglass_core::sessions::{self, InlinePolicy, Installation, UserGuard};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tracing::{debug, info, warn};

use super::decide::{PsKey, PsOutcome};
use crate::aws::{self, Progress, Sso};

/// Attempts of one read-modify-write when AWS answers ConflictException (another writer,
/// or a provisioning of the set still running).
const CONFLICT_ATTEMPTS: u32 = 5;

/// How long one pass waits for a provisioning before leaving it to the next pass (its id is
/// on the grants, so nothing is lost).
pub(crate) const PROVISIONING_DEADLINE: Duration = Duration::from_secs(30);

const POLL_EVERY: Duration = Duration::from_secs(1);

/// The inline policy as written.
pub(crate) struct Written {
    /// The set's session duration (an end older than this cuts nothing).
    pub session_duration: SignedDuration,
    /// The operator's statements in it now.
    pub statements: usize,
    /// What is to be awaited, if anything.
    pub provision: Provision,
}

pub(crate) enum Provision {
    /// Nothing changed and nobody waits.
    Nothing,
    /// AWS finished at once (or failed at once).
    Done(PsOutcome),
    /// A provisioning to await: `fresh` when asked in this pass (to be recorded first).
    Await { request_id: String, fresh: bool },
}

/// Reads, rewrites when the grants need it, and provisions when something changed or a
/// grant waits for it. `recorded`: a provisioning a grant recorded earlier, awaited instead
/// of asking again when nothing changed.
pub(crate) async fn write(
    sso: &Sso<'_>,
    installation: &Installation,
    ps: &PsKey,
    users: &[UserGuard],
    waiting: bool,
    recorded: Option<&str>,
    now: Timestamp,
) -> Result<Written, PsOutcome> {
    let (instance, arn) = (&ps.instance_arn, &ps.permission_set_arn);
    let session_duration = sso
        .session_duration(instance, arn)
        .await
        .map_err(|e| failed(&e, "reading the permission set"))?;
    let session_duration =
        SignedDuration::try_from(session_duration).unwrap_or(SignedDuration::from_hours(12));
    let mut attempt = 0;
    let (changed, statements) = loop {
        attempt += 1;
        let text = sso
            .inline_policy(instance, arn)
            .await
            .map_err(|e| failed(&e, "reading the inline policy"))?;
        let doc = InlinePolicy::parse(&text, installation).map_err(|e| PsOutcome::Failed {
            reason: "InvalidInlinePolicy",
            message: format!("the inline policy of {arn} cannot be read: {e}"),
        })?;
        let desired = sessions::desired(doc.ours(), users, now, session_duration);
        // A statement under our Sid that is not what we write (edited by hand) was dropped
        // by parse: only a write replaces it.
        if !sessions::changed(doc.ours(), &desired) && doc.malformed().is_empty() {
            break (false, desired.len());
        }
        let count = desired.len();
        let next = doc.with_ours(desired);
        if !next.fits() {
            return Err(PsOutcome::Failed {
                reason: "PolicyTooLarge",
                message: format!(
                    "the inline policy of {arn} would exceed {} bytes with the guard's statements; sessions are not guarded",
                    sessions::MAX_INLINE_POLICY_BYTES
                ),
            });
        }
        let result = match next.render() {
            Some(text) => sso.put_inline_policy(instance, arn, &text).await,
            None => sso.delete_inline_policy(instance, arn).await,
        };
        match result {
            Ok(()) => break (true, count),
            Err(e) if e.is_conflict() && attempt < CONFLICT_ATTEMPTS => {
                debug!(permission_set = %arn, attempt, "inline policy write conflicted; reading again");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            Err(e) => return Err(failed(&e, "writing the inline policy")),
        }
    };
    if changed {
        info!(permission_set = %arn, statements, "session guard written");
        // Tests SIGKILL here: written, not yet provisioned (the next pass provisions it).
        crate::faults::failpoint("after-guard-write").await;
    }
    let provision = match (changed, recorded) {
        (false, Some(id)) => Provision::Await {
            request_id: id.to_owned(),
            fresh: false,
        },
        (false, None) if !waiting => Provision::Nothing,
        _ => match sso.provision(instance, arn).await {
            Ok(Progress::Succeeded) => Provision::Done(PsOutcome::Provisioned {
                at: Timestamp::now(),
            }),
            Ok(Progress::InProgress { request_id }) => Provision::Await {
                request_id,
                fresh: true,
            },
            Ok(Progress::Failed { reason, .. }) => {
                Provision::Done(provisioning_failed(arn, &reason))
            }
            Err(e) => return Err(failed(&e, "provisioning")),
        },
    };
    Ok(Written {
        session_duration,
        statements,
        provision,
    })
}

/// Polls a provisioning until AWS finishes it or `deadline` passes (then it stays in
/// progress, recorded, for the next pass).
pub(crate) async fn await_provisioning(
    sso: &Sso<'_>,
    ps: &PsKey,
    request_id: &str,
    deadline: Duration,
) -> PsOutcome {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        match sso.provisioning(&ps.instance_arn, request_id).await {
            Ok(Progress::Succeeded) => {
                return PsOutcome::Provisioned {
                    at: Timestamp::now(),
                };
            }
            Ok(Progress::Failed { reason, .. }) => {
                return provisioning_failed(&ps.permission_set_arn, &reason);
            }
            Ok(Progress::InProgress { .. }) => {}
            Err(e) if e.is_throttling() => {}
            Err(e) => return failed(&e, "polling the provisioning"),
        }
        if tokio::time::Instant::now() + POLL_EVERY > until {
            return PsOutcome::InProgress {
                request_id: request_id.to_owned(),
            };
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

fn provisioning_failed(arn: &str, reason: &str) -> PsOutcome {
    warn!(permission_set = %arn, reason, "provisioning the session guard failed");
    PsOutcome::Failed {
        reason: "ProvisioningFailed",
        message: format!("AWS could not provision {arn}: {reason}"),
    }
}

fn failed(e: &aws::Error, what: &str) -> PsOutcome {
    PsOutcome::Failed {
        reason: reason(e),
        message: format!("{what}: {e}"),
    }
}

/// The guard's reason for an AWS error: a refusal is named as such (the role lacks the
/// guard's actions), by its code.
pub(crate) fn reason(e: &aws::Error) -> &'static str {
    if e.is_access_denied() {
        "AccessDenied"
    } else {
        e.reason()
    }
}
