//! How a policy edit bears on a grant already given: would the policy now deny it, or does
//! it name another access kind or target (pure).

use super::GrantRecord;
use crate::{
    AssignmentState, BreakGlassPolicySpec, GrantedAssignment,
    policy::{self, Denial},
};

/// Why a grant that may hold access must end because its policy changed: the policy would
/// now deny it (a shorter `max` only shortens the window, so duration is not a reason), or
/// the access it names is no longer what the grant recorded. `None` while it still fits.
/// Eligibility through `eligibleGroups` needs AWS and is not re-checked here.
pub fn policy_change(grant: &GrantRecord<'_>, policy: &BreakGlassPolicySpec) -> Option<String> {
    match policy::evaluate(grant.namespace, grant.spec, &grant.spec.policy, policy) {
        // A grant given before requestedBy existed is not ended by an unrelated policy edit.
        Err(
            Denial::DurationTooLong { .. } | Denial::InvalidDuration(_) | Denial::RequesterUnknown,
        )
        | Ok(_) => {}
        Err(denial) => return Some(denial.to_string()),
    }
    let access = grant.status?.access.as_ref()?;
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
    grant: &GrantRecord<'_>,
    recorded: &[GrantedAssignment],
    policy: &BreakGlassPolicySpec,
) -> Option<String> {
    let Some(now) = &policy.access.account_assignment else {
        return Some("the policy no longer assigns permission sets".into());
    };
    let accounts = policy::accounts(grant.spec, policy);
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
