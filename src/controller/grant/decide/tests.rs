use super::*;
use crate::api::{AssignmentState, GrantedAssignment};

fn t(s: &str) -> Timestamp {
    s.parse().expect("time")
}

fn target() -> ActAs {
    ActAs {
        role_arn: "arn:aws:iam::111111111111:role/bg".into(),
        read_role_arn: None,
        external_id: None,
        region: Some("eu-west-1".into()),
        identity_store_id: "d-1".into(),
        session_name: "breakglass@team.g".into(),
    }
}

fn group_by_name() -> GroupMembershipAccess {
    GroupMembershipAccess {
        group_name: Some("admins".into()),
        group_id: None,
        exclusive: false,
    }
}

fn accounts() -> AccountAssignmentAccess {
    serde_json::from_value(serde_json::json!({
        "permissionSetArn": "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
        "accountIds": ["111111111111"],
    }))
    .expect("accounts")
}

fn active_member(store: &str) -> BreakGlassGrantStatus {
    BreakGlassGrantStatus {
        phase: Some(GrantPhase::Active),
        user_id: Some("u-1".into()),
        expires_at: Some(Time(t("2026-01-01T01:00:00Z"))),
        access: Some(GrantedAccess {
            group_membership: Some(GrantedMembership {
                identity_store_id: store.into(),
                group_id: "g-1".into(),
                group_name: None,
                membership_id: Some("m-1".into()),
                standing: false,
            }),
            account_assignments: vec![],
        }),
        ..Default::default()
    }
}

fn facts<'a>(
    status: &'a BreakGlassGrantStatus,
    group: Option<&'a GroupMembershipAccess>,
    accounts: Option<&'a AccountAssignmentAccess>,
) -> Facts<'a> {
    Facts {
        status,
        group,
        accounts,
        identity_store_id: "d-1",
        echo: false,
        required: false,
    }
}

#[test]
fn the_echo_of_our_own_work_only_looks_at_pauses() {
    let fresh = BreakGlassGrantStatus::default();
    let g = group_by_name();
    let f = Facts {
        echo: true,
        required: true,
        ..facts(&fresh, Some(&g), None)
    };
    assert_eq!(route(&f), Route::Keep, "before even the required survey");
    let expires = t("2026-01-01T01:00:00Z");
    let quiet = echo(&[], false, expires);
    assert!(quiet.effects.is_empty(), "no pauses: no write, no confirm");
    assert_eq!(
        quiet.after,
        After::Expiry {
            expires_at: expires,
            pauses: false
        }
    );
    let paused = echo(&[], true, expires);
    assert_eq!(
        paused.effects,
        vec![
            Effect::Pause(vec![]),
            Effect::Commit,
            Effect::Confirm(expires)
        ]
    );
}

#[test]
fn required_targets_are_surveyed_on_the_first_pass_only() {
    let g = group_by_name();
    let fresh = BreakGlassGrantStatus::default();
    let f = Facts {
        required: true,
        ..facts(&fresh, Some(&g), None)
    };
    assert_eq!(route(&f), Route::SurveyRequired);
    let held = active_member("d-1");
    let f = Facts {
        required: true,
        ..facts(&held, Some(&g), None)
    };
    assert_eq!(
        route(&f),
        Route::Keep,
        "a window is recorded: not the first"
    );
}

#[test]
fn a_membership_held_in_the_same_store_needs_no_aws_call() {
    let g = group_by_name();
    let held = active_member("d-1");
    assert_eq!(route(&facts(&held, Some(&g), None)), Route::Keep);
    let elsewhere = active_member("d-2");
    assert_eq!(
        route(&facts(&elsewhere, Some(&g), None)),
        Route::Group,
        "the policy now names another store"
    );
    let mut no_id = active_member("d-1");
    if let Some(m) = no_id
        .access
        .as_mut()
        .and_then(|a| a.group_membership.as_mut())
    {
        m.membership_id = None;
    }
    assert_eq!(route(&facts(&no_id, Some(&g), None)), Route::Group);
}

#[test]
fn group_wins_over_accounts_and_accounts_held_only_when_all_assigned() {
    let g = group_by_name();
    let a = accounts();
    let fresh = BreakGlassGrantStatus::default();
    assert_eq!(route(&facts(&fresh, Some(&g), Some(&a))), Route::Group);
    assert_eq!(route(&facts(&fresh, None, Some(&a))), Route::Accounts);
    assert_eq!(route(&facts(&fresh, None, None)), Route::Nothing);
    let entry = |state| GrantedAssignment {
        instance_arn: "arn:aws:sso:::instance/ssoins-1".into(),
        account_id: "111111111111".into(),
        permission_set_arn: "arn:aws:sso:::permissionSet/ssoins-1/ps-1".into(),
        state,
        request_id: None,
        message: None,
        standing: false,
    };
    let mut status = BreakGlassGrantStatus {
        phase: Some(GrantPhase::Active),
        expires_at: Some(Time(t("2026-01-01T01:00:00Z"))),
        access: Some(GrantedAccess {
            group_membership: None,
            account_assignments: vec![entry(AssignmentState::Assigned)],
        }),
        ..Default::default()
    };
    assert_eq!(route(&facts(&status, None, Some(&a))), Route::Keep);
    if let Some(access) = status.access.as_mut() {
        access
            .account_assignments
            .push(entry(AssignmentState::Pending));
    }
    assert_eq!(route(&facts(&status, None, Some(&a))), Route::Accounts);
}

#[test]
fn eligibility_by_group_needs_aws_to_say_yes() {
    let by_group = Eligibility::ByGroup(vec!["oncall".into()]);
    assert!(eligible(None, None));
    assert!(eligible(Some(&Eligibility::Listed), None));
    assert!(eligible(Some(&by_group), Some(true)));
    assert!(!eligible(Some(&by_group), Some(false)));
    assert!(
        !eligible(Some(&by_group), None),
        "never asked: not eligible"
    );
    assert_eq!(eligibility_groups(Some(&Eligibility::Listed)), None);
    assert_eq!(
        eligibility_groups(Some(&by_group)),
        Some(&["oncall".to_owned()][..])
    );
}

#[test]
fn recorded_ids_hold_only_in_the_store_they_were_found_in() {
    let held = active_member("d-1");
    assert_eq!(
        recorded_ids(&held, "d-1"),
        Some(("u-1".into(), "g-1".into()))
    );
    assert_eq!(recorded_ids(&held, "d-2"), None);
    assert_eq!(recorded_ids(&BreakGlassGrantStatus::default(), "d-1"), None);
}

fn membership_plan(status: &mut BreakGlassGrantStatus, pauses: bool) -> Plan {
    let (target, group) = (target(), group_by_name());
    membership(
        Membership {
            user: "alice@example.com",
            grant_key: &GrantKey::new("team", "g"),
            policy: "prod",
            target: &target,
            group: &group,
            user_id: "u-1".into(),
            group_id: "g-1".into(),
            window: (t("2026-01-01T00:00:00Z"), t("2026-01-01T01:00:00Z")),
            selections: &[],
            pauses,
        },
        status,
    )
}

#[test]
fn the_first_pass_records_the_window_before_the_ledger_and_the_add() {
    let mut status = BreakGlassGrantStatus::default();
    let plan = membership_plan(&mut status, false);
    assert_eq!(
        status.expires_at.as_ref().map(|e| e.0),
        Some(t("2026-01-01T01:00:00Z"))
    );
    assert_eq!(status.user_id.as_deref(), Some("u-1"));
    assert_eq!(
        status.aws.as_ref().map(|a| a.session_name.as_str()),
        Some("breakglass@team.g")
    );
    let m = status
        .access
        .as_ref()
        .and_then(|a| a.group_membership.as_ref())
        .expect("membership recorded");
    assert_eq!(
        (m.group_name.as_deref(), m.membership_id.as_deref()),
        (Some("admins"), None)
    );
    let kinds: Vec<&str> = plan.effects.iter().map(kind).collect();
    assert_eq!(
        kinds,
        [
            "Phase",
            "Settle",
            "Checkpoint",
            "AddMember",
            "Phase",
            "Settle",
            "MeasureGranted",
            "Announce",
            "Commit",
            "Confirm"
        ]
    );
    assert!(
        plan.effects
            .iter()
            .any(|e| matches!(e, Effect::AddMember(_)))
    );
}

#[test]
fn a_retry_writes_no_checkpoint_and_an_active_grant_is_not_announced_again() {
    let mut status = active_member("d-1");
    let plan = membership_plan(&mut status, true);
    assert!(!plan.effects.contains(&Effect::Checkpoint));
    assert!(
        !plan
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Announce(_) | Effect::MeasureGranted))
    );
    assert!(
        plan.effects
            .iter()
            .any(|e| matches!(e, Effect::AddMember(_)))
    );
    assert!(plan.effects.contains(&Effect::Pause(vec![])));
    assert_eq!(
        status
            .access
            .as_ref()
            .and_then(|a| a.group_membership.as_ref())
            .and_then(|m| m.membership_id.as_deref()),
        Some("m-1"),
        "the recorded membership id is kept until AWS answers"
    );
    record_membership(&mut status, "m-2".into(), false);
    assert_eq!(
        status
            .access
            .as_ref()
            .and_then(|a| a.group_membership.as_ref())
            .and_then(|m| m.membership_id.as_deref()),
        Some("m-2")
    );
}

fn kind(e: &Effect) -> &'static str {
    match e {
        Effect::Phase(_) => "Phase",
        Effect::Settle(_) => "Settle",
        Effect::Checkpoint => "Checkpoint",
        Effect::AddMember(_) => "AddMember",
        Effect::MeasureGranted => "MeasureGranted",
        Effect::Announce(_) => "Announce",
        Effect::Pause(_) => "Pause",
        Effect::Commit => "Commit",
        Effect::CommitNoting(_) => "CommitNoting",
        Effect::Confirm(_) => "Confirm",
        _ => "another",
    }
}
