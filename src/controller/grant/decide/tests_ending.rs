use super::ending::*;
use crate::{
    api::{BreakGlassGrantStatus, EndReason, GrantKey, GrantPhase, GrantedMembership, Time},
    aws::ActAs,
    controller::grant::effect::{After, Effect, RemoveMember, RestoreFailure, Settle},
    policy::Denial,
};
use k8s_openapi::jiff::Timestamp;

fn t(s: &str) -> Timestamp {
    s.parse().expect("time")
}

fn target() -> ActAs {
    ActAs {
        role_arn: "arn:aws:iam::111111111111:role/bg".into(),
        read_role_arn: None,
        external_id: None,
        region: None,
        identity_store_id: "d-1".into(),
        session_name: "breakglass@team.g".into(),
    }
}

fn membership() -> GrantedMembership {
    GrantedMembership {
        identity_store_id: "d-1".into(),
        group_id: "g-1".into(),
        group_name: None,
        membership_id: Some("m-1".into()),
        standing: false,
    }
}

#[test]
fn the_end_is_due_at_expiry_or_deletion_as_recorded_else_when_noticed() {
    let now = t("2026-01-01T02:00:00Z");
    let status = BreakGlassGrantStatus {
        expires_at: Some(Time(t("2026-01-01T01:00:00Z"))),
        ..Default::default()
    };
    let deleted_at = t("2026-01-01T01:30:00Z");
    let deleted = Some(deleted_at);
    assert_eq!(
        due(EndReason::Expired, &status, deleted, now),
        t("2026-01-01T01:00:00Z")
    );
    assert_eq!(due(EndReason::Deleted, &status, deleted, now), deleted_at);
    assert_eq!(due(EndReason::Deleted, &status, None, now), now);
    assert_eq!(due(EndReason::Resolved, &status, deleted, now), now);
    let unrecorded = BreakGlassGrantStatus::default();
    assert_eq!(due(EndReason::Expired, &unrecorded, None, now), now);
}

#[test]
fn the_note_names_the_reason_and_what_changed() {
    assert_eq!(note(EndReason::Expired, None), "grant ended (Expired)");
    assert_eq!(
        note(EndReason::PolicyChanged, Some("the group changed".into())),
        "grant ended (PolicyChanged: the group changed)"
    );
}

#[test]
fn the_member_is_removed_only_when_no_other_grant_gives_it() {
    let (effects, said) = take_member("alice", target(), "u-1".into(), membership(), &[]);
    assert_eq!(
        effects,
        [
            Effect::RemoveMember(Box::new(RemoveMember {
                target: target(),
                user_id: "u-1".into(),
                membership: membership(),
            })),
            Effect::Forget(Box::new(target())),
        ]
    );
    assert_eq!(said, "removed alice from group g-1");

    let holders = [
        GrantKey::new("team", "other"),
        GrantKey::new("team", "third"),
    ];
    let (effects, said) = take_member("alice", target(), "u-1".into(), membership(), &holders);
    assert_eq!(effects, [Effect::Forget(Box::new(target()))], "kept");
    assert_eq!(said, "access kept: still granted by team/other, team/third");
}

#[test]
fn an_end_gives_pauses_back_before_it_is_recorded_and_counts_after_the_record() {
    let due = t("2026-01-01T01:00:00Z");
    let plan = ended(
        EndReason::Expired,
        "grant ended (Expired)".into(),
        due,
        true,
    );
    assert_eq!(plan.after, After::Review);
    let mut effects = plan.effects.into_iter();
    assert_eq!(
        effects.next(),
        Some(Effect::Restore {
            release_held: true,
            on_failure: RestoreFailure::FailNow
        }),
        "a failed restore fails the pass before the end is recorded"
    );
    assert_eq!(effects.next(), Some(Effect::End(EndReason::Expired)));
    assert_eq!(
        effects.next(),
        Some(Effect::Settle(Settle::Ended {
            reason: "Expired".into(),
            message: "grant ended (Expired)".into()
        }))
    );
    assert_eq!(effects.next(), Some(Effect::Commit));
    assert_eq!(
        effects.next(),
        Some(Effect::MeasureRevoked {
            reason: "Expired".into(),
            due
        })
    );
    assert!(
        matches!(effects.next(), Some(Effect::Announce(a)) if a.reason == "Ended" && !a.warning)
    );
    assert_eq!(effects.next(), None);
}

#[test]
fn a_review_records_what_was_given_back_even_when_some_failed() {
    let plan = review(false);
    assert_eq!(
        plan.effects,
        [
            Effect::Restore {
                release_held: false,
                on_failure: RestoreFailure::Last
            },
            Effect::Commit,
            Effect::MeasureHeld,
        ]
    );
    assert_eq!(plan.after, After::Review);
}

#[test]
fn a_denial_is_recorded_then_told_and_nothing_else_is_touched() {
    let denial = Denial::PolicyNotFound {
        policy: "prod-admin".into(),
    };
    let plan = deny(&denial);
    assert_eq!(plan.after, After::Change);
    assert_eq!(plan.effects[0], Effect::Phase(GrantPhase::Denied));
    assert_eq!(
        plan.effects[1],
        Effect::Settle(Settle::Denied {
            reason: "PolicyNotFound",
            message: denial.to_string()
        })
    );
    assert_eq!(plan.effects[2], Effect::Commit);
    assert!(matches!(&plan.effects[3], Effect::Announce(a) if a.warning && a.reason == "Denied"));
    assert_eq!(plan.effects.len(), 4);
}
