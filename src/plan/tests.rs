use std::time::Duration;

use super::*;
use crate::api::{BreakGlassGrant, BreakGlassPolicySpec, EndReason, GrantPhase};
use crate::{api::BreakGlassPolicy, policy};
use k8s_openapi::jiff::Timestamp;

/// The core's plan, of a grant object's record.
fn plan(
    grant: &BreakGlassGrant,
    policy: Option<&BreakGlassPolicySpec>,
    deleting: bool,
    now: Timestamp,
) -> Step {
    super::plan(&record(grant), policy, deleting, now)
}

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn policy() -> BreakGlassPolicySpec {
    fixture::<BreakGlassPolicy>("policy.yaml").spec.0
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
    // Given before requestedBy existed: an unrelated policy edit does not end it.
    let mut old = g.clone();
    old.spec.requested_by = None;
    assert!(kept(plan(&old, Some(&policy()), false, at(NOW))));
}

#[test]
fn each_denial_is_planned_without_aws() {
    let deny =
        |g: BreakGlassGrant, p: Option<&BreakGlassPolicySpec>| match plan(&g, p, false, at(NOW)) {
            Step::Deny(d) => d.reason(),
            other => panic!("expected Deny, got {other:?}"),
        };
    let p = policy();
    assert_eq!(deny(new_grant(|_| {}), None), "PolicyNotFound");
    assert_eq!(
        deny(new_grant(|g| g.spec.requested_by = None), Some(&p)),
        "RequesterUnknown"
    );
    assert_eq!(
        deny(
            new_grant(|g| g.spec.requested_by = Some("  ".into())),
            Some(&p)
        ),
        "RequesterUnknown"
    );
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
