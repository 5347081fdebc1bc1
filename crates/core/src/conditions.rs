//! metav1.Condition bookkeeping: `lastTransitionTime` moves only when the status flips, so
//! rewriting the same status does not trigger another reconcile.

use crate::{Condition, Time};

pub const READY: &str = "Ready";
pub const GRANTED: &str = "Granted";
pub const STALLED: &str = "Stalled";
pub const AUTOMATION_PAUSED: &str = "AutomationPaused";
/// The session guard's (written by the guard alone): True once sessions issued before the
/// end are denied on AWS.
pub const SESSIONS_REVOKED: &str = "SessionsRevoked";

/// Sets condition `type_` in `conditions`, keeping its transition time unless the status flips.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" }.to_owned();
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = now.clone();
            }
            existing.status = status;
            existing.reason = reason.to_owned();
            existing.message = message;
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message,
            observed_generation: generation,
            last_transition_time: now.clone(),
        }),
    }
}

/// What a step of a grant's pipeline came to; [`apply`] turns it into conditions, so each
/// outcome always reads the same on every grant, whichever code path reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The window and target are recorded; the access is being added.
    Granting { message: &'a str },
    /// The access is in place.
    Active { message: &'a str },
    /// Access removed (or never given) and pauses given back; `reason` is the end reason.
    Ended { reason: &'a str, message: &'a str },
    /// The policy refuses the grant: nothing was touched, and nothing will be retried.
    Denied { reason: &'a str, message: &'a str },
    /// A step failed and is retried with backoff; `reason` names the failure.
    Failed { reason: &'a str, message: &'a str },
    /// A `required` pause target is missing: no access until it exists.
    WaitingForRequiredTarget { message: &'a str },
    /// Where the pauses the policy names stand (`AutomationPaused` only).
    Pauses(Pauses<'a>),
}

/// Where a grant's pauses stand after its pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pauses<'a> {
    /// While access is given: whether any target is paused, whether any failed.
    Applied {
        paused: bool,
        failed: bool,
        message: &'a str,
    },
    /// After the end: targets kept paused until reviewed.
    HeldForReview { message: &'a str },
    /// After the end: every target given back (or left to others).
    Restored { message: &'a str },
    /// After the end: giving back failed; retried.
    RestoreFailed { message: &'a str },
}

/// Sets the conditions `outcome` decides, leaving the others as they are.
pub fn apply(
    conditions: &mut Vec<Condition>,
    outcome: &Outcome<'_>,
    generation: Option<i64>,
    now: &Time,
) {
    let mut put = |type_: &str, status: bool, reason: &str, message: &str| {
        set(conditions, type_, status, reason, message, generation, now);
    };
    match *outcome {
        Outcome::Granting { message } => {
            put(GRANTED, false, "Granting", message);
            put(READY, false, "Granting", message);
        }
        Outcome::Active { message } => {
            put(GRANTED, true, "Granted", message);
            put(READY, true, "Active", message);
            put(STALLED, false, "Active", "");
        }
        Outcome::Ended { reason, message } => {
            put(GRANTED, false, reason, message);
            put(READY, false, "Ended", message);
            put(STALLED, false, "Ended", "");
        }
        Outcome::Denied { reason, message } => {
            put(READY, false, "Denied", message);
            put(GRANTED, false, "Denied", message);
            put(STALLED, true, reason, message);
        }
        Outcome::Failed { reason, message } => {
            put(READY, false, reason, message);
            put(STALLED, true, reason, message);
        }
        Outcome::WaitingForRequiredTarget { message } => {
            put(
                AUTOMATION_PAUSED,
                false,
                "WaitingForRequiredTarget",
                message,
            );
            put(READY, false, "WaitingForRequiredTarget", message);
        }
        Outcome::Pauses(ref pauses) => {
            let (on, reason, message) = match *pauses {
                Pauses::Applied {
                    paused,
                    failed: true,
                    message,
                } => (paused, "PauseFailed", message),
                Pauses::Applied {
                    paused: true,
                    message,
                    ..
                } => (true, "Paused", message),
                Pauses::Applied { message, .. } => (false, "NothingPaused", message),
                Pauses::HeldForReview { message } => (true, "HeldForReview", message),
                Pauses::Restored { message } => (false, "Restored", message),
                Pauses::RestoreFailed { message } => (true, "RestoreFailed", message),
            };
            put(AUTOMATION_PAUSED, on, reason, message);
        }
    }
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (type, status, reason)
    type Row<'a> = (&'a str, &'a str, &'a str);

    /// Every condition as a row, in order.
    fn table(c: &[Condition]) -> Vec<Row<'_>> {
        c.iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
            .collect()
    }

    #[test]
    fn each_outcome_reads_the_same_on_every_grant() {
        let now = t("2026-01-01T00:00:00Z");
        let cases: [(Outcome, &[Row]); 13] = [
            (
                Outcome::Granting { message: "m" },
                &[
                    ("Granted", "False", "Granting"),
                    ("Ready", "False", "Granting"),
                ],
            ),
            (
                Outcome::Active { message: "m" },
                &[
                    ("Granted", "True", "Granted"),
                    ("Ready", "True", "Active"),
                    ("Stalled", "False", "Active"),
                ],
            ),
            (
                Outcome::Ended {
                    reason: "Expired",
                    message: "m",
                },
                &[
                    ("Granted", "False", "Expired"),
                    ("Ready", "False", "Ended"),
                    ("Stalled", "False", "Ended"),
                ],
            ),
            (
                Outcome::Denied {
                    reason: "UserNotEligible",
                    message: "m",
                },
                &[
                    ("Ready", "False", "Denied"),
                    ("Granted", "False", "Denied"),
                    ("Stalled", "True", "UserNotEligible"),
                ],
            ),
            (
                Outcome::Failed {
                    reason: "AssumeRoleFailed",
                    message: "m",
                },
                &[
                    ("Ready", "False", "AssumeRoleFailed"),
                    ("Stalled", "True", "AssumeRoleFailed"),
                ],
            ),
            (
                Outcome::WaitingForRequiredTarget { message: "m" },
                &[
                    ("AutomationPaused", "False", "WaitingForRequiredTarget"),
                    ("Ready", "False", "WaitingForRequiredTarget"),
                ],
            ),
            (
                Outcome::Pauses(Pauses::Applied {
                    paused: true,
                    failed: false,
                    message: "m",
                }),
                &[("AutomationPaused", "True", "Paused")],
            ),
            (
                Outcome::Pauses(Pauses::Applied {
                    paused: false,
                    failed: false,
                    message: "m",
                }),
                &[("AutomationPaused", "False", "NothingPaused")],
            ),
            (
                Outcome::Pauses(Pauses::Applied {
                    paused: true,
                    failed: true,
                    message: "m",
                }),
                &[("AutomationPaused", "True", "PauseFailed")],
            ),
            (
                Outcome::Pauses(Pauses::Applied {
                    paused: false,
                    failed: true,
                    message: "m",
                }),
                &[("AutomationPaused", "False", "PauseFailed")],
            ),
            (
                Outcome::Pauses(Pauses::HeldForReview { message: "m" }),
                &[("AutomationPaused", "True", "HeldForReview")],
            ),
            (
                Outcome::Pauses(Pauses::Restored { message: "m" }),
                &[("AutomationPaused", "False", "Restored")],
            ),
            (
                Outcome::Pauses(Pauses::RestoreFailed { message: "m" }),
                &[("AutomationPaused", "True", "RestoreFailed")],
            ),
        ];
        for (outcome, want) in cases {
            let mut c = vec![];
            apply(&mut c, &outcome, Some(3), &now);
            assert_eq!(table(&c), want, "{outcome:?}");
            assert!(c.iter().all(|c| c.observed_generation == Some(3)));
        }
    }

    #[test]
    fn a_failure_after_access_keeps_granted_and_a_success_clears_stalled() {
        let mut c = vec![];
        let t0 = t("2026-01-01T00:00:00Z");
        apply(&mut c, &Outcome::Active { message: "a" }, Some(1), &t0);
        let t1 = t("2026-01-01T00:01:00Z");
        let failed = Outcome::Failed {
            reason: "AwsError",
            message: "b",
        };
        apply(&mut c, &failed, Some(1), &t1);
        assert!(is_true(&c, GRANTED), "the access is still there");
        assert!(is_true(&c, STALLED));
        apply(
            &mut c,
            &Outcome::Active { message: "a" },
            Some(1),
            &t("2026-01-01T00:02:00Z"),
        );
        assert!(!is_true(&c, STALLED));
        let granted = c
            .iter()
            .find(|c| c.type_ == GRANTED)
            .map(|c| &c.last_transition_time);
        assert_eq!(granted, Some(&t0), "Granted never flipped");
    }

    fn t(s: &str) -> Time {
        Time(s.parse().expect("time"))
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut c = vec![];
        set(
            &mut c,
            READY,
            false,
            "Granting",
            "a",
            Some(1),
            &t("2026-01-01T00:00:00Z"),
        );
        set(
            &mut c,
            READY,
            false,
            "AwsError",
            "b",
            Some(1),
            &t("2026-01-01T00:01:00Z"),
        );
        assert_eq!(c[0].last_transition_time, t("2026-01-01T00:00:00Z"));
        assert_eq!(
            (c[0].reason.as_str(), c[0].message.as_str()),
            ("AwsError", "b")
        );
        set(
            &mut c,
            READY,
            true,
            "Active",
            "c",
            Some(2),
            &t("2026-01-01T00:02:00Z"),
        );
        assert_eq!(c[0].last_transition_time, t("2026-01-01T00:02:00Z"));
        assert_eq!(c[0].observed_generation, Some(2));
        assert!(is_true(&c, READY));
        assert_eq!(c.len(), 1);
    }
}
