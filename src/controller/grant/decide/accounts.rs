//! Account assignments, decided: pure functions from the record (each account's state and
//! request id, AWS's answers so far) to the next call, and from where the accounts stand to
//! the effects that record it. The caller plans one step, applies it, and plans the next.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::{
    super::effect::{After, Announcement, AssignStep, Effect, Plan, Settle, UnassignStep},
    holders::names,
};
use crate::{
    api::{AssignmentState, GrantKey, GrantPhase, GrantedAssignment},
    assignments::{self, Next, Overall},
    aws::Assignment,
    pause::Selection,
};

/// Where an entry's assignment lives.
pub(crate) fn assignment(e: &GrantedAssignment) -> Assignment {
    Assignment {
        instance_arn: e.instance_arn.clone(),
        account_id: e.account_id.clone(),
        permission_set_arn: e.permission_set_arn.clone(),
    }
}

/// The next account to give, from `from` on: its index and the call, or `None` when every
/// account from there on needs nothing this pass. `may_create`: AWS has room for another
/// creation on the instance; otherwise the account waits for a later pass (`held_back`).
pub(crate) fn next_assign(
    entries: &[GrantedAssignment],
    from: usize,
    may_create: impl Fn(&str) -> bool,
    held_back: &mut bool,
) -> Option<(usize, AssignStep)> {
    for (i, e) in entries.iter().enumerate().skip(from) {
        match assignments::to_give(e) {
            Next::PollCreate(id) => return Some((i, AssignStep::Poll(id))),
            Next::Create if may_create(&e.instance_arn) => return Some((i, AssignStep::Create)),
            Next::Create => *held_back = true,
            Next::Done | Next::Delete | Next::PollDelete(_) => {}
        }
    }
    None
}

/// AWS's answer recorded a request id that was not there before: it must be written before
/// anything awaits it, so a restart polls it instead of asking again.
pub(crate) fn newly_asked(before: Option<&str>, after: &GrantedAssignment) -> bool {
    before.is_none() && after.request_id.is_some()
}

/// Accounts another Active grant of the user still gives (`holders[i]`, who, per entry),
/// and standing ones (assigned before the grant), are recorded as kept, not deleted. Returns how the note names them.
pub(crate) fn keep_shared(
    entries: &mut [GrantedAssignment],
    holders: &[Vec<GrantKey>],
) -> Vec<String> {
    let mut kept = vec![];
    for (e, who) in entries.iter_mut().zip(holders) {
        if (who.is_empty() && !e.standing)
            || assignments::to_end(e, true) != Next::Done
            || e.state == AssignmentState::Removed
        {
            continue;
        }
        e.state = AssignmentState::Removed;
        e.request_id = None;
        if e.standing {
            e.message = Some("kept: standing access (assigned before the grant)".into());
            kept.push(format!("{} (standing access)", e.account_id));
            continue;
        }
        let who = names(who);
        e.message = Some(format!("kept: still granted by {who}"));
        kept.push(format!("{} (still granted by {who})", e.account_id));
    }
    kept
}

/// The next account to take back, from `from` on (shared ones are already kept).
pub(crate) fn next_unassign(
    entries: &[GrantedAssignment],
    from: usize,
) -> Option<(usize, UnassignStep)> {
    entries
        .iter()
        .enumerate()
        .skip(from)
        .find_map(|(i, e)| match assignments::to_end(e, false) {
            Next::Delete => Some((i, UnassignStep::Delete)),
            Next::PollDelete(id) => Some((i, UnassignStep::Poll(id))),
            Next::Done | Next::Create | Next::PollCreate(_) => None,
        })
}

/// Once every account is removed or kept, what the end's note says of them (`None`: AWS is
/// still deleting some).
pub(crate) fn removed(entries: &[GrantedAssignment], kept: &[String]) -> Option<String> {
    if assignments::ending(entries) != Overall::Removed {
        return None;
    }
    let removed: Vec<&str> = entries
        .iter()
        .filter(|e| e.message.is_none())
        .map(|e| e.account_id.as_str())
        .collect();
    let mut parts = vec![];
    if !removed.is_empty() {
        parts.push(format!(
            "removed the permission set on {}",
            removed.join(", ")
        ));
    }
    if !kept.is_empty() {
        parts.push(format!("kept on {}", kept.join(", ")));
    }
    Some(parts.join("; "))
}

/// What the pass records once the accounts' calls are made.
pub(crate) struct Giving<'a> {
    pub user: &'a str,
    pub entries: &'a [GrantedAssignment],
    pub phase: Option<GrantPhase>,
    /// Some account waits for room on its instance.
    pub held_back: bool,
    pub max_outstanding: usize,
    pub selections: &'a [Selection],
    pub pauses: bool,
    pub expires_at: Timestamp,
}

/// Where the accounts stand, as effects: Active once AWS confirmed every one, still waiting
/// (looked at again after `next_poll`), or failed (AWS failed some, or never finished by
/// the deadline, when `next_poll` is `None`: shown per account and retried with backoff).
/// `next_poll` is asked only while some account is still being created.
pub(crate) fn conclude(g: &Giving<'_>, next_poll: impl FnOnce() -> Option<Duration>) -> Plan {
    let failed = |effects| Plan {
        effects,
        after: After::Change,
    };
    match assignments::giving(g.entries) {
        Overall::Assigned => {
            let accounts: Vec<&str> = g.entries.iter().map(|e| e.account_id.as_str()).collect();
            let msg = format!(
                "{} is assigned the permission set on {} until {}",
                g.user,
                accounts.join(", "),
                g.expires_at
            );
            let mut effects = vec![
                Effect::PolledOut,
                Effect::Phase(GrantPhase::Active),
                Effect::Settle(Settle::Active(msg.clone())),
            ];
            if g.phase != Some(GrantPhase::Active) {
                effects.push(Effect::MeasureGranted);
                effects.push(Effect::Announce(Announcement::normal(
                    "Granted", "Grant", msg,
                )));
            }
            let keep = super::keep(g.selections, g.pauses, g.expires_at);
            effects.extend(keep.effects);
            Plan {
                effects,
                after: keep.after,
            }
        }
        Overall::Assigning { pending } => {
            let msg = if g.held_back {
                format!(
                    "waiting for AWS on {}: at most {} assignments may be in progress per instance",
                    pending.join(", "),
                    g.max_outstanding
                )
            } else {
                format!("waiting for AWS on {}", pending.join(", "))
            };
            let mut effects = vec![Effect::Settle(Settle::Granting(msg)), Effect::Commit];
            match next_poll() {
                Some(delay) => Plan {
                    effects,
                    after: After::In(delay),
                },
                None => {
                    effects.extend([
                        Effect::Accounts(timed_out(g.entries)),
                        Effect::AssignmentFailed,
                    ]);
                    failed(effects)
                }
            }
        }
        Overall::Failed(_) => failed(vec![Effect::AssignmentFailed]),
        Overall::Removed | Overall::Removing { .. } => Plan {
            effects: vec![],
            after: After::Change,
        },
    }
}

/// The deadline: AWS never finished. Recorded as failed, created again with backoff (AWS
/// answers a create still in flight with a conflict).
fn timed_out(entries: &[GrantedAssignment]) -> Vec<GrantedAssignment> {
    let mut entries = entries.to_vec();
    for e in entries
        .iter_mut()
        .filter(|e| e.state == AssignmentState::Pending)
    {
        e.state = AssignmentState::Failed;
        e.request_id = None;
        e.message = Some("still in progress after about 5 minutes".into());
    }
    entries
}
