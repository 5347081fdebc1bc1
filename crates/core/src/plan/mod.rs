//! Pure planning: from a grant's record, its policy (if it still exists) and the time, the one next
//! step of the lifecycle. Time comes from the grant's status, never from memory.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::{
    BreakGlassGrantSpec, BreakGlassGrantStatus, BreakGlassPolicySpec, EndReason, GrantPhase,
    PauseState,
    policy::{self, Accepted, Denial},
};

/// What planning reads of a grant: where it lives, what it asks, what was recorded, and
/// whether the sweep found its access removed on AWS by someone else (an annotation; see
/// [`REVOKED_ON_AWS`]).
#[derive(Debug, Clone, Copy)]
pub struct GrantRecord<'a> {
    pub namespace: &'a str,
    pub spec: &'a BreakGlassGrantSpec,
    pub status: Option<&'a BreakGlassGrantStatus>,
    pub revoked_on_aws: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ended or Denied: the record stays as it is.
    Idle,
    /// Refuse; no AWS call.
    Deny(Denial),
    /// Give (or keep giving) access until `expires_at`. `started_at` is when the window began.
    Grant {
        accepted: Option<Accepted>,
        started_at: Timestamp,
        expires_at: Timestamp,
    },
    /// Ended, with targets still held for review: look at them again (give back those now
    /// in sync, or all of them when a person asked or the grant is being deleted).
    Review,
    /// Remove access (unless another grant still gives it), then record the end.
    End {
        reason: EndReason,
        /// False when access was never given, so there is nothing to revoke.
        revoke: bool,
    },
}

/// Set by the sweep on a grant whose access someone else removed on AWS: the grant ends
/// (`RevokedOnAws`) instead of adding it back. An annotation, not status, so no status
/// write built from an older copy of the grant can erase it.
pub const REVOKED_ON_AWS: &str = "breakglass.dev/revoked-on-aws";

/// Whether access may have been given: the window is recorded before the first AWS change.
pub fn may_hold_access(status: Option<&BreakGlassGrantStatus>) -> bool {
    status.is_some_and(|s| {
        matches!(s.phase, Some(GrantPhase::Active | GrantPhase::Pending)) && s.expires_at.is_some()
    })
}

fn to_signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// The next step for `grant`. `policy` is `None` when the named policy does not exist.
pub fn plan(
    grant: &GrantRecord<'_>,
    policy: Option<&BreakGlassPolicySpec>,
    deleting: bool,
    now: Timestamp,
) -> Step {
    let status = grant.status.cloned().unwrap_or_default();
    if status.phase == Some(GrantPhase::Ended)
        && status
            .paused_targets
            .iter()
            .any(|t| t.state == PauseState::Held)
    {
        return Step::Review;
    }
    if matches!(status.phase, Some(GrantPhase::Ended | GrantPhase::Denied)) {
        return Step::Idle;
    }
    let held = may_hold_access(grant.status);
    if deleting {
        return Step::End {
            reason: EndReason::Deleted,
            revoke: held,
        };
    }
    if grant.spec.resolved {
        return Step::End {
            reason: EndReason::Resolved,
            revoke: held,
        };
    }
    if held && grant.revoked_on_aws {
        // Already gone on AWS; ending removes nothing, and re-adding is what must not happen.
        return Step::End {
            reason: EndReason::RevokedOnAws,
            revoke: false,
        };
    }
    let Some(policy) = policy else {
        return if held {
            Step::End {
                reason: EndReason::PolicyDeleted,
                revoke: true,
            }
        } else {
            Step::Deny(Denial::PolicyNotFound {
                policy: grant.spec.policy.clone(),
            })
        };
    };

    if held && policy_change(grant, policy).is_some() {
        return Step::End {
            reason: EndReason::PolicyChanged,
            revoke: true,
        };
    }
    if let (true, Some(started), Some(expires)) =
        (held, status.granted_at.as_ref(), status.expires_at.as_ref())
    {
        // A lowered policy max shortens the window; it never lengthens it.
        let mut expires_at = expires.0;
        if let Some(max) = policy::max_duration(policy) {
            expires_at = expires_at.min(
                started
                    .0
                    .saturating_add(to_signed(max))
                    .unwrap_or(expires_at),
            );
        }
        if now >= expires_at {
            return Step::End {
                reason: EndReason::Expired,
                revoke: true,
            };
        }
        return Step::Grant {
            accepted: None,
            started_at: started.0,
            expires_at,
        };
    }

    match policy::evaluate(grant.namespace, grant.spec, &grant.spec.policy, policy) {
        Err(denial) => Step::Deny(denial),
        Ok(accepted) => {
            // Whole seconds, as `expiresAt` is recorded: the end is scheduled for exactly the
            // recorded instant, so a restarted operator and this one agree to the millisecond.
            let expires_at = now
                .saturating_add(to_signed(accepted.duration))
                .ok()
                .and_then(|t| Timestamp::from_second(t.as_second()).ok())
                .unwrap_or(now);
            Step::Grant {
                accepted: Some(accepted),
                started_at: now,
                expires_at,
            }
        }
    }
}

/// When to look at an active grant again: at expiry, and at least every few minutes so that
/// its pauses are re-checked (access itself is the sweep's: one AWS list per group).
pub fn requeue_after(expires_at: Timestamp, now: Timestamp) -> Duration {
    const RESYNC: Duration = Duration::from_secs(300);
    requeue_within(expires_at, now, RESYNC)
}

/// When to look at an active grant again: at expiry, and within `within` (a grant whose
/// pause targets are watched needs no look before its safety re-check).
pub fn requeue_within(expires_at: Timestamp, now: Timestamp, within: Duration) -> Duration {
    let until = expires_at.duration_since(now);
    let until = Duration::try_from(until).unwrap_or(Duration::ZERO);
    until.min(within) + Duration::from_millis(50)
}

mod change;

pub use self::change::policy_change;
