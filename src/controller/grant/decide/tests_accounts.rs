use std::time::Duration;

use super::accounts::*;
use crate::{
    api::{AssignmentState, GrantKey, GrantPhase, GrantedAssignment},
    assignments,
    aws::Progress,
    controller::grant::effect::{After, AssignStep, Effect, Settle, UnassignStep},
};
use k8s_openapi::jiff::Timestamp;

/// Accounts 1-6: Pending, Pending (req-2), Assigned, Failed, Removing (req-5), Removed.
fn entries() -> Vec<GrantedAssignment> {
    serde_yaml::from_str(include_str!("../../../../tests/fixtures/assignments.yaml"))
        .expect("fixture")
}

fn entry(account: &str, state: AssignmentState) -> GrantedAssignment {
    GrantedAssignment {
        account_id: account.into(),
        instance_arn: "ins".into(),
        permission_set_arn: "ps".into(),
        state,
        request_id: None,
        message: None,
        standing: false,
    }
}

fn expires() -> Timestamp {
    "2030-01-01T00:00:00Z".parse().expect("time")
}

/// Every step of a give pass, in order, as the driver plans them.
fn give_steps(entries: &[GrantedAssignment], room: bool) -> (Vec<(usize, AssignStep)>, bool) {
    let (mut steps, mut held_back, mut from) = (vec![], false, 0);
    while let Some((i, step)) = next_assign(entries, from, |_| room, &mut held_back) {
        steps.push((i, step));
        from = i + 1;
    }
    (steps, held_back)
}

#[test]
fn giving_creates_polls_and_recreates_failures_in_record_order() {
    let (steps, held_back) = give_steps(&entries(), true);
    assert_eq!(
        steps,
        vec![
            (0, AssignStep::Create),
            (1, AssignStep::Poll("req-2".into())),
            (3, AssignStep::Create),
            (4, AssignStep::Create),
            (5, AssignStep::Create),
        ]
    );
    assert!(!held_back);
}

#[test]
fn without_room_on_the_instance_creates_wait_but_polls_go_on() {
    let (steps, held_back) = give_steps(&entries()[..4], false);
    assert_eq!(steps, vec![(1, AssignStep::Poll("req-2".into()))]);
    assert!(held_back);
}

#[test]
fn a_new_request_id_is_written_before_it_is_awaited() {
    let mut e = entry("1", AssignmentState::Pending);
    assignments::created(
        &mut e,
        Progress::InProgress {
            request_id: "r".into(),
        },
    );
    assert!(newly_asked(None, &e));
    // Polled again and still in progress: already on the record.
    assert!(!newly_asked(Some("r"), &e));
    let mut done = entry("2", AssignmentState::Pending);
    assignments::created(&mut done, Progress::Succeeded);
    assert!(!newly_asked(None, &done));
}

#[test]
fn shared_accounts_are_kept_and_the_rest_deleted_or_polled() {
    let mut entries = entries();
    let other = vec![GrantKey::new("team", "other")];
    // Account 3 (Assigned) is shared; 5 (Removing) is shared but already being deleted.
    let holders = vec![vec![], vec![], other.clone(), vec![], other, vec![]];
    let kept = keep_shared(&mut entries, &holders);
    assert_eq!(kept, vec!["333333333333 (still granted by team/other)"]);
    assert_eq!(entries[2].state, AssignmentState::Removed);
    assert_eq!(
        entries[2].message.as_deref(),
        Some("kept: still granted by team/other")
    );
    let (mut steps, mut from) = (vec![], 0);
    while let Some((i, step)) = next_unassign(&entries, from) {
        steps.push((i, step));
        from = i + 1;
    }
    assert_eq!(
        steps,
        vec![
            (0, UnassignStep::Delete),
            (1, UnassignStep::Delete),
            (3, UnassignStep::Delete),
            (4, UnassignStep::Poll("req-5".into())),
        ]
    );
    assert_eq!(removed(&entries, &kept), None);
}

#[test]
fn the_end_note_names_removed_and_kept_accounts() {
    let mut kept_entry = entry("2", AssignmentState::Removed);
    kept_entry.message = Some("kept: still granted by team/other".into());
    let entries = vec![entry("1", AssignmentState::Removed), kept_entry];
    let kept = vec!["2 (still granted by team/other)".to_owned()];
    assert_eq!(
        removed(&entries, &kept).as_deref(),
        Some("removed the permission set on 1; kept on 2 (still granted by team/other)")
    );
}

fn giving<'a>(entries: &'a [GrantedAssignment], phase: Option<GrantPhase>) -> Giving<'a> {
    Giving {
        user: "alice",
        entries,
        phase,
        held_back: false,
        max_outstanding: 10,
        selections: &[],
        pauses: false,
        expires_at: expires(),
    }
}

#[test]
fn all_assigned_is_active_told_once() {
    let entries = vec![entry("1", AssignmentState::Assigned)];
    let plan = conclude(&giving(&entries, Some(GrantPhase::Pending)), || {
        panic!("no poll once assigned")
    });
    assert_eq!(plan.effects[0], Effect::PolledOut);
    assert_eq!(plan.effects[1], Effect::Phase(GrantPhase::Active));
    assert!(plan.effects.contains(&Effect::MeasureGranted));
    assert!(plan.effects.contains(&Effect::Commit));
    assert!(matches!(plan.after, After::Expiry { .. }));
    let again = conclude(&giving(&entries, Some(GrantPhase::Active)), || None);
    assert!(!again.effects.contains(&Effect::MeasureGranted));
    assert!(
        !again
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Announce(_)))
    );
}

#[test]
fn still_in_progress_is_recorded_and_polled_until_the_deadline() {
    let mut pending = entry("1", AssignmentState::Pending);
    pending.request_id = Some("r".into());
    let entries = vec![pending, entry("2", AssignmentState::Assigned)];
    let plan = conclude(&giving(&entries, Some(GrantPhase::Pending)), || {
        Some(Duration::from_secs(2))
    });
    assert_eq!(
        plan.effects,
        vec![
            Effect::Settle(Settle::Granting("waiting for AWS on 1".into())),
            Effect::Commit,
        ]
    );
    assert_eq!(plan.after, After::In(Duration::from_secs(2)));

    let late = conclude(&giving(&entries, Some(GrantPhase::Pending)), || None);
    let Some(Effect::Accounts(marked)) = late.effects.get(2) else {
        panic!("the deadline marks the pending accounts failed: {late:?}");
    };
    assert_eq!(marked[0].state, AssignmentState::Failed);
    assert_eq!(marked[0].request_id, None);
    assert_eq!(marked[1].state, AssignmentState::Assigned);
    assert_eq!(late.effects.last(), Some(&Effect::AssignmentFailed));
}

#[test]
fn held_back_accounts_say_why_they_wait() {
    let entries = vec![entry("1", AssignmentState::Pending)];
    let mut g = giving(&entries, None);
    g.held_back = true;
    let plan = conclude(&g, || Some(Duration::from_secs(1)));
    let Effect::Settle(Settle::Granting(msg)) = &plan.effects[0] else {
        panic!("{plan:?}");
    };
    assert!(msg.contains("at most 10 assignments"), "{msg}");
}

#[test]
fn an_aws_failure_fails_the_pass() {
    let entries = vec![entry("1", AssignmentState::Failed)];
    let plan = conclude(&giving(&entries, None), || panic!("no poll on failure"));
    assert_eq!(plan.effects, vec![Effect::AssignmentFailed]);
}
