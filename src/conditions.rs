//! metav1.Condition bookkeeping: `lastTransitionTime` moves only when the status flips, so
//! rewriting the same status does not trigger another reconcile.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const GRANTED: &str = "Granted";
pub const STALLED: &str = "Stalled";
pub const AUTOMATION_PAUSED: &str = "AutomationPaused";

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

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

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
