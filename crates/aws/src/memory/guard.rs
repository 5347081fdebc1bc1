//! The session guard's SSO Admin calls in memory: permission sets' inline policies and
//! session durations, their provisioning (SUCCEEDED at once by default, else on a later
//! status call, as assignments do), and the permission sets GROUP principals are assigned.
//! A log of what was written and provisioned lets a test count writes and provisionings.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

use super::{Memory, Op, State, faults};
use crate::{Actor, DEFAULT_SESSION_DURATION, Error, Progress};

/// PutInlinePolicyToPermissionSet's largest document (its API's length limit).
const INLINE_POLICY_LIMIT: usize = 32_768;

/// What the in-memory Identity Center keeps for the session guard.
pub(super) struct Guard {
    /// Permission set ARN → its inline policy (absent: none).
    inline: BTreeMap<String, String>,
    /// Permission set ARN → its session duration (absent: AWS's default).
    durations: BTreeMap<String, Duration>,
    /// Permission set ARN → the documents PutInlinePolicyToPermissionSet wrote, in order.
    puts: BTreeMap<String, Vec<String>>,
    /// Permission set ARN → the document each ProvisionPermissionSet call provisioned.
    provisionings: BTreeMap<String, Vec<String>>,
    /// Permission set ARN → the document its accounts have (the last provisioning that
    /// SUCCEEDED).
    provisioned: BTreeMap<String, String>,
    /// (instance ARN, group id) → the permission set ARNs the group is assigned.
    groups: BTreeMap<(String, String), BTreeSet<String>>,
    requests: HashMap<String, Provisioning>,
    /// The status call that completes a provisioning (0: at once, as moto does).
    completes_on_poll: u32,
    /// The FailureReason provisionings end with, if they are to fail.
    failure: Option<String>,
    /// Documents longer than this are a ValidationException.
    limit: usize,
}

impl Default for Guard {
    fn default() -> Self {
        Self {
            inline: BTreeMap::new(),
            durations: BTreeMap::new(),
            puts: BTreeMap::new(),
            provisionings: BTreeMap::new(),
            provisioned: BTreeMap::new(),
            groups: BTreeMap::new(),
            requests: HashMap::new(),
            completes_on_poll: 0,
            failure: None,
            limit: INLINE_POLICY_LIMIT,
        }
    }
}

/// A provisioning AWS is working on.
struct Provisioning {
    permission_set_arn: String,
    document: String,
    /// Status calls still answering IN_PROGRESS.
    polls_left: u32,
    /// Set once done: `None` succeeded, `Some(reason)` failed.
    done: Option<Option<String>>,
}

impl Memory {
    /// Sets the permission set's inline policy at once, as a person editing it by hand
    /// would (empty: none). Not logged as a write, not provisioned.
    pub fn set_inline_policy(&self, permission_set_arn: &str, document: &str) {
        let inline = &mut self.state().guard.inline;
        if document.is_empty() {
            inline.remove(permission_set_arn);
        } else {
            inline.insert(permission_set_arn.to_owned(), document.to_owned());
        }
    }

    /// The permission set's inline policy now (empty: none).
    pub fn inline_policy_of(&self, permission_set_arn: &str) -> String {
        let s = self.state();
        s.guard
            .inline
            .get(permission_set_arn)
            .cloned()
            .unwrap_or_default()
    }

    /// The permission set's session duration (1 h until set).
    pub fn set_session_duration(&self, permission_set_arn: &str, duration: Duration) {
        self.state()
            .guard
            .durations
            .insert(permission_set_arn.to_owned(), duration);
    }

    /// The permission sets the group is assigned on the instance (replacing any before).
    pub fn set_group_permission_sets<I, S>(&self, instance_arn: &str, group_id: &str, arns: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let key = (instance_arn.to_owned(), group_id.to_owned());
        let arns = arns.into_iter().map(Into::into).collect();
        self.state().guard.groups.insert(key, arns);
    }

    /// Which status call completes a provisioning: 0 (the default) none, ProvisionPermissionSet
    /// answers at once; n > 0: it answers IN_PROGRESS, and so do the first n - 1 status calls.
    pub fn complete_provisioning_on_poll(&self, n: u32) {
        self.state().guard.completes_on_poll = n;
    }

    /// Provisionings from now on end FAILED with `reason` (`None`: they succeed).
    pub fn fail_provisioning(&self, reason: Option<&str>) {
        self.state().guard.failure = reason.map(str::to_owned);
    }

    /// Inline policies longer than `chars` are refused with ValidationException (AWS's
    /// limit by default).
    pub fn inline_policy_limit(&self, chars: usize) {
        self.state().guard.limit = chars;
    }

    /// The documents PutInlinePolicyToPermissionSet wrote to the permission set, in order
    /// (a refused put writes nothing).
    pub fn policy_puts(&self, permission_set_arn: &str) -> Vec<String> {
        let s = self.state();
        s.guard
            .puts
            .get(permission_set_arn)
            .cloned()
            .unwrap_or_default()
    }

    /// The inline policy each accepted ProvisionPermissionSet of the permission set
    /// provisioned, in order (however it ended).
    pub fn provisionings(&self, permission_set_arn: &str) -> Vec<String> {
        let s = self.state();
        s.guard
            .provisionings
            .get(permission_set_arn)
            .cloned()
            .unwrap_or_default()
    }

    /// The inline policy the permission set's accounts have: the one the last SUCCEEDED
    /// provisioning provisioned (`None`: never provisioned).
    pub fn provisioned_policy(&self, permission_set_arn: &str) -> Option<String> {
        self.state()
            .guard
            .provisioned
            .get(permission_set_arn)
            .cloned()
    }
}

impl State {
    /// Whether the permission set exists on the instance.
    fn has_permission_set(&self, instance_arn: &str, permission_set_arn: &str) -> bool {
        self.permission_sets
            .iter()
            .any(|((i, _), arn)| i == instance_arn && arn == permission_set_arn)
    }
}

/// Enters the call, then locks the state if the permission set exists (else AWS's
/// ResourceNotFoundException).
async fn enter_on<'m>(
    m: &'m Memory,
    op: Op,
    actor: Actor<'_>,
    args: &[&str],
) -> Result<std::sync::MutexGuard<'m, State>, Error> {
    m.enter(op, actor, args).await?;
    let s = m.state();
    if s.has_permission_set(args[0], args[1]) {
        Ok(s)
    } else {
        Err(faults::not_found(op, actor))
    }
}

pub(super) async fn session_duration(
    m: &Memory,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
) -> Result<Duration, Error> {
    let args = [instance_arn, permission_set_arn];
    let s = enter_on(m, Op::DescribePermissionSet, actor, &args).await?;
    let durations = &s.guard.durations;
    Ok(durations
        .get(permission_set_arn)
        .copied()
        .unwrap_or(DEFAULT_SESSION_DURATION))
}

pub(super) async fn inline_policy(
    m: &Memory,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
) -> Result<String, Error> {
    let args = [instance_arn, permission_set_arn];
    let s = enter_on(m, Op::GetInlinePolicyForPermissionSet, actor, &args).await?;
    Ok(s.guard
        .inline
        .get(permission_set_arn)
        .cloned()
        .unwrap_or_default())
}

pub(super) async fn put_inline_policy(
    m: &Memory,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
    document: &str,
) -> Result<(), Error> {
    let op = Op::PutInlinePolicyToPermissionSet;
    let mut s = enter_on(m, op, actor, &[instance_arn, permission_set_arn, document]).await?;
    let length = document.chars().count();
    if length == 0 || length > s.guard.limit {
        let limit = s.guard.limit;
        let message = format!("inline policy of {length} characters: 1 to {limit} allowed");
        return Err(faults::invalid(op, actor, &message));
    }
    let arn = permission_set_arn.to_owned();
    s.guard.inline.insert(arn.clone(), document.to_owned());
    s.guard
        .puts
        .entry(arn)
        .or_default()
        .push(document.to_owned());
    Ok(())
}

/// One already gone (or a permission set that does not exist) is deleted: AWS's
/// ResourceNotFoundException, as the SDK implementation reads it.
pub(super) async fn delete_inline_policy(
    m: &Memory,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
) -> Result<(), Error> {
    let args = [instance_arn, permission_set_arn];
    m.enter(Op::DeleteInlinePolicyFromPermissionSet, actor, &args)
        .await?;
    m.state().guard.inline.remove(permission_set_arn);
    Ok(())
}

pub(super) async fn provision(
    m: &Memory,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
) -> Result<Progress, Error> {
    let args = [instance_arn, permission_set_arn];
    let mut s = enter_on(m, Op::ProvisionPermissionSet, actor, &args).await?;
    let request_id = s.id("prov");
    let document = s
        .guard
        .inline
        .get(permission_set_arn)
        .cloned()
        .unwrap_or_default();
    let g = &mut s.guard;
    let arn = permission_set_arn.to_owned();
    g.provisionings
        .entry(arn.clone())
        .or_default()
        .push(document.clone());
    let mut request = Provisioning {
        permission_set_arn: arn,
        document,
        polls_left: g.completes_on_poll,
        done: None,
    };
    let progress = if g.completes_on_poll == 0 {
        finish(g, &mut request, &request_id)
    } else {
        Progress::InProgress {
            request_id: request_id.clone(),
        }
    };
    g.requests.insert(request_id, request);
    Ok(progress)
}

pub(super) async fn provisioning_status(
    m: &Memory,
    actor: Actor<'_>,
    instance_arn: &str,
    request_id: &str,
) -> Result<Progress, Error> {
    let op = Op::DescribePermissionSetProvisioningStatus;
    m.enter(op, actor, &[instance_arn, request_id]).await?;
    let mut s = m.state();
    let g = &mut s.guard;
    let Some(mut request) = g.requests.remove(request_id) else {
        return Err(faults::not_found(op, actor));
    };
    let progress = match &request.done {
        None if request.polls_left > 1 => {
            request.polls_left -= 1;
            Progress::InProgress {
                request_id: request_id.to_owned(),
            }
        }
        None => finish(g, &mut request, request_id),
        Some(None) => Progress::Succeeded,
        Some(Some(reason)) => Progress::Failed {
            request_id: request_id.to_owned(),
            reason: reason.clone(),
        },
    };
    g.requests.insert(request_id.to_owned(), request);
    Ok(progress)
}

/// Ends a provisioning as configured now; a success gives its accounts the document.
fn finish(g: &mut Guard, request: &mut Provisioning, request_id: &str) -> Progress {
    request.polls_left = 0;
    request.done = Some(g.failure.clone());
    match &g.failure {
        Some(reason) => Progress::Failed {
            request_id: request_id.to_owned(),
            reason: reason.clone(),
        },
        None => {
            g.provisioned
                .insert(request.permission_set_arn.clone(), request.document.clone());
            Progress::Succeeded
        }
    }
}

pub(super) async fn group_permission_sets(
    m: &Memory,
    actor: Actor<'_>,
    instance_arn: &str,
    group_id: &str,
) -> Result<BTreeSet<String>, Error> {
    let op = Op::ListAccountAssignmentsForPrincipal;
    m.enter(op, actor, &[instance_arn, group_id]).await?;
    let key = (instance_arn.to_owned(), group_id.to_owned());
    Ok(m.state()
        .guard
        .groups
        .get(&key)
        .cloned()
        .unwrap_or_default())
}

#[cfg(test)]
mod tests;
