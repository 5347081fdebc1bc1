//! Pure planning: from a grant, its policy (if it still exists) and the time, the one next
//! step of the lifecycle. Time comes from the grant's status, never from memory.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::{
    api::{
        AssignmentState, BreakGlassGrant, BreakGlassPolicySpec, EndReason, GrantPhase,
        GrantedAssignment,
    },
    policy::{self, Accepted, Denial},
};

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

pub fn revoked_on_aws(grant: &BreakGlassGrant) -> bool {
    grant
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(REVOKED_ON_AWS))
}

/// Whether access may have been given: the window is recorded before the first AWS change.
pub fn may_hold_access(grant: &BreakGlassGrant) -> bool {
    grant.status.as_ref().is_some_and(|s| {
        matches!(s.phase, Some(GrantPhase::Active | GrantPhase::Pending)) && s.expires_at.is_some()
    })
}

fn to_signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// The next step for `grant`. `policy` is `None` when the named policy does not exist.
pub fn plan(
    grant: &BreakGlassGrant,
    policy: Option<&BreakGlassPolicySpec>,
    deleting: bool,
    now: Timestamp,
) -> Step {
    let status = grant.status.clone().unwrap_or_default();
    if matches!(status.phase, Some(GrantPhase::Ended | GrantPhase::Denied)) {
        return Step::Idle;
    }
    let held = may_hold_access(grant);
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
    if held && revoked_on_aws(grant) {
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

    let namespace = grant.metadata.namespace.as_deref().unwrap_or_default();
    match policy::evaluate(namespace, &grant.spec, &grant.spec.policy, policy) {
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

/// Why a grant that may hold access must end because its policy changed: the policy would
/// now deny it (a shorter `max` only shortens the window, so duration is not a reason), or
/// the access it names is no longer what the grant recorded. `None` while it still fits.
/// Eligibility through `eligibleGroups` needs AWS and is not re-checked here.
pub fn policy_change(grant: &BreakGlassGrant, policy: &BreakGlassPolicySpec) -> Option<String> {
    let namespace = grant.metadata.namespace.as_deref().unwrap_or_default();
    match policy::evaluate(namespace, &grant.spec, &grant.spec.policy, policy) {
        Err(Denial::DurationTooLong { .. } | Denial::InvalidDuration(_)) | Ok(_) => {}
        Err(denial) => return Some(denial.to_string()),
    }
    let access = grant.status.as_ref()?.access.as_ref()?;
    if !access.account_assignments.is_empty() {
        return assignment_change(grant, &access.account_assignments, policy);
    }
    let recorded = access.group_membership.as_ref()?;
    let Some(group) = &policy.access.group_membership else {
        return Some("the policy no longer grants group membership".into());
    };
    if recorded.identity_store_id != policy.aws.identity_store_id {
        return Some(format!(
            "the policy moved from Identity Store {} to {}",
            recorded.identity_store_id, policy.aws.identity_store_id
        ));
    }
    let other_group = match (&group.group_id, &group.group_name, &recorded.group_name) {
        (Some(id), _, _) => *id != recorded.group_id,
        (None, Some(name), Some(was)) => name != was,
        // Granted before names were recorded: the name cannot be compared without AWS.
        _ => false,
    };
    other_group.then(|| {
        format!(
            "the policy now names another group than {}",
            recorded.group_name.as_deref().unwrap_or(&recorded.group_id)
        )
    })
}

/// How a policy edit bears on a grant's recorded account assignments: another kind, another
/// instance or permission set, or an account it no longer assigns on ends the grant.
fn assignment_change(
    grant: &BreakGlassGrant,
    recorded: &[GrantedAssignment],
    policy: &BreakGlassPolicySpec,
) -> Option<String> {
    let Some(now) = &policy.access.account_assignment else {
        return Some("the policy no longer assigns permission sets".into());
    };
    let accounts = policy::accounts(&grant.spec, policy);
    recorded
        .iter()
        .filter(|e| e.state != AssignmentState::Removed)
        .find_map(|e| {
            if now
                .instance_arn
                .as_ref()
                .is_some_and(|i| *i != e.instance_arn)
            {
                Some(format!(
                    "the policy now names another instance than {}",
                    e.instance_arn
                ))
            } else if now
                .permission_set_arn
                .as_ref()
                .is_some_and(|p| *p != e.permission_set_arn)
            {
                Some(format!(
                    "the policy now names another permission set than {}",
                    e.permission_set_arn
                ))
            } else if !accounts.contains(&e.account_id) {
                Some(format!(
                    "the policy no longer assigns on account {}",
                    e.account_id
                ))
            } else {
                None
            }
        })
}

/// When to look at an active grant again: at expiry, and at least every few minutes so that
/// its pauses are re-checked (access itself is the sweep's: one AWS list per group).
pub fn requeue_after(expires_at: Timestamp, now: Timestamp) -> Duration {
    const RESYNC: Duration = Duration::from_secs(300);
    let until = expires_at.duration_since(now);
    let until = Duration::try_from(until).unwrap_or(Duration::ZERO);
    until.min(RESYNC) + Duration::from_millis(50)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::BreakGlassPolicy;

    fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn policy() -> BreakGlassPolicySpec {
        fixture::<BreakGlassPolicy>("policy.yaml").spec
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn new_grant(edit: impl FnOnce(&mut BreakGlassGrant)) -> BreakGlassGrant {
        let mut g: BreakGlassGrant = fixture("grant-new.yaml");
        edit(&mut g);
        g
    }

    const NOW: &str = "2026-01-01T11:00:00Z";

    #[test]
    fn accepted_grant_gets_the_policy_default_window() {
        let step = plan(&new_grant(|_| {}), Some(&policy()), false, at(NOW));
        let Step::Grant {
            expires_at,
            started_at,
            accepted,
        } = step
        else {
            panic!("expected Grant, got {step:?}")
        };
        assert_eq!(started_at, at(NOW));
        assert_eq!(expires_at, at("2026-01-01T12:00:00Z"));
        assert_eq!(
            accepted.map(|a| a.eligibility),
            Some(policy::Eligibility::Listed)
        );
    }

    #[test]
    fn the_window_ends_on_a_whole_second_as_recorded() {
        let step = plan(
            &new_grant(|_| {}),
            Some(&policy()),
            false,
            at("2026-01-01T11:00:00.734Z"),
        );
        let Step::Grant { expires_at, .. } = step else {
            panic!("expected Grant, got {step:?}")
        };
        assert_eq!(expires_at, at("2026-01-01T12:00:00Z"));
    }

    #[test]
    fn policy_changes_end_active_grants_that_no_longer_fit() {
        let g: BreakGlassGrant = fixture("grant-active.yaml");
        let after = |edit: fn(&mut BreakGlassPolicySpec)| {
            let mut p = policy();
            edit(&mut p);
            plan(&g, Some(&p), false, at(NOW))
        };
        let changed = Step::End {
            reason: EndReason::PolicyChanged,
            revoke: true,
        };
        let kept = |step: Step| matches!(step, Step::Grant { .. });
        assert!(kept(after(|_| {})));
        assert_eq!(
            after(|p| {
                p.eligible_users.clear();
                p.eligible_groups.clear();
            }),
            changed
        );
        assert_eq!(
            after(|p| p.grant_namespaces = vec!["other".into()]),
            changed
        );
        assert_eq!(
            after(|p| p.aws.identity_store_id = "d-9999999999".into()),
            changed
        );
        assert_eq!(
            after(|p| {
                if let Some(g) = p.access.group_membership.as_mut() {
                    g.group_name = Some("another-group".into());
                }
            }),
            changed
        );
        assert_eq!(after(|p| p.access.group_membership = None), changed);
        // Not listed any more, but eligible groups remain: that needs AWS, not decided here.
        assert!(kept(after(|p| p.eligible_users.clear())));
        // A lower max shortens the window; it is no reason to end.
        assert!(kept(after(|p| p.duration.max = "2h".into())));
    }

    #[test]
    fn each_denial_is_planned_without_aws() {
        let deny = |g: BreakGlassGrant, p: Option<&BreakGlassPolicySpec>| match plan(
            &g,
            p,
            false,
            at(NOW),
        ) {
            Step::Deny(d) => d.reason(),
            other => panic!("expected Deny, got {other:?}"),
        };
        let p = policy();
        assert_eq!(deny(new_grant(|_| {}), None), "PolicyNotFound");
        assert_eq!(
            deny(
                new_grant(|g| g.metadata.namespace = Some("dev".into())),
                Some(&p)
            ),
            "NamespaceNotAllowed"
        );
        assert_eq!(
            deny(new_grant(|g| g.spec.incident = None), Some(&p)),
            "IncidentRequired"
        );
        assert_eq!(
            deny(
                new_grant(|g| g.spec.duration = Some("4h1s".into())),
                Some(&p)
            ),
            "DurationTooLong"
        );
        let mut no_groups = p.clone();
        no_groups.eligible_groups.clear();
        assert_eq!(
            deny(
                new_grant(|g| g.spec.user = "bob@example.com".into()),
                Some(&no_groups)
            ),
            "UserNotEligible"
        );
    }

    #[test]
    fn unlisted_user_needs_a_group_check() {
        let step = plan(
            &new_grant(|g| g.spec.user = "bob@example.com".into()),
            Some(&policy()),
            false,
            at(NOW),
        );
        let Step::Grant {
            accepted: Some(a), ..
        } = step
        else {
            panic!("{step:?}")
        };
        assert_eq!(
            a.eligibility,
            policy::Eligibility::ByGroup(vec!["oncall-sre".into()])
        );
    }

    #[test]
    fn active_grant_keeps_its_window_until_expiry_then_ends() {
        let mut p = policy();
        p.duration.max = "24h".into();
        let g: BreakGlassGrant = fixture("grant-active.yaml");
        assert_eq!(
            plan(&g, Some(&p), false, at(NOW)),
            Step::Grant {
                accepted: None,
                started_at: at("2026-01-01T10:00:00Z"),
                expires_at: at("2026-01-01T13:00:00Z")
            }
        );
        assert_eq!(
            plan(&g, Some(&p), false, at("2026-01-01T13:00:00Z")),
            Step::End {
                reason: EndReason::Expired,
                revoke: true
            }
        );
    }

    #[test]
    fn lowering_the_policy_max_shortens_but_never_lengthens() {
        let g: BreakGlassGrant = fixture("grant-active.yaml");
        let mut p = policy();
        p.duration = crate::api::PolicyDuration {
            default: "30m".into(),
            max: "2h".into(),
        };
        let Step::Grant { expires_at, .. } = plan(&g, Some(&p), false, at(NOW)) else {
            panic!()
        };
        assert_eq!(expires_at, at("2026-01-01T12:00:00Z"));
        p.duration.max = "24h".into();
        let Step::Grant { expires_at, .. } = plan(&g, Some(&p), false, at(NOW)) else {
            panic!()
        };
        assert_eq!(expires_at, at("2026-01-01T13:00:00Z"));
    }

    #[test]
    fn endings_revoke_only_what_may_have_been_granted() {
        let active: BreakGlassGrant = fixture("grant-active.yaml");
        let p = policy();
        let end = |g: &BreakGlassGrant, p: Option<&BreakGlassPolicySpec>, deleting| {
            plan(g, p, deleting, at(NOW))
        };
        assert_eq!(
            end(&active, None, false),
            Step::End {
                reason: EndReason::PolicyDeleted,
                revoke: true
            }
        );
        assert_eq!(
            end(&active, Some(&p), true),
            Step::End {
                reason: EndReason::Deleted,
                revoke: true
            }
        );
        let mut resolved = active.clone();
        resolved.spec.resolved = true;
        assert_eq!(
            end(&resolved, Some(&p), false),
            Step::End {
                reason: EndReason::Resolved,
                revoke: true
            }
        );
        let fresh = new_grant(|g| g.spec.resolved = true);
        assert_eq!(
            end(&fresh, Some(&p), false),
            Step::End {
                reason: EndReason::Resolved,
                revoke: false
            }
        );
        assert_eq!(
            end(&new_grant(|_| {}), Some(&p), true),
            Step::End {
                reason: EndReason::Deleted,
                revoke: false
            }
        );
    }

    #[test]
    fn ended_and_denied_grants_are_left_alone() {
        for phase in [GrantPhase::Ended, GrantPhase::Denied] {
            let mut g: BreakGlassGrant = fixture("grant-active.yaml");
            if let Some(s) = g.status.as_mut() {
                s.phase = Some(phase);
            }
            assert_eq!(plan(&g, None, true, at(NOW)), Step::Idle);
        }
    }

    #[test]
    fn requeue_is_at_expiry_or_the_resync_interval() {
        assert_eq!(
            requeue_after(at("2026-01-01T11:00:10Z"), at(NOW)),
            Duration::from_millis(10_050)
        );
        assert_eq!(
            requeue_after(at("2026-01-01T13:00:00Z"), at(NOW)),
            Duration::from_millis(300_050)
        );
        assert_eq!(
            requeue_after(at("2026-01-01T10:00:00Z"), at(NOW)),
            Duration::from_millis(50)
        );
    }
}
