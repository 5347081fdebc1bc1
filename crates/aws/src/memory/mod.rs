//! IAM Identity Center in memory, with the semantics the operator's tests rely on: users,
//! groups and memberships per Identity Store (a duplicate membership is a
//! ConflictException, as on AWS), instances and permission sets, account assignments whose
//! create and delete answer IN_PROGRESS and complete on a later status call, permission
//! sets' inline policies and session durations, their provisioning (SUCCEEDED at once, or
//! on a later status call) and GROUP assignments (`guard`), sessions
//! assumed once per role and session name until forgotten, faults on demand (throttling,
//! conflicts and refusals with the codes AWS sends, and stalls that never answer until
//! released), and a log of every call made.

mod calls;
mod center;
mod faults;
mod guard;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

pub use self::faults::Fault;
use self::faults::Planned;
use crate::{ActAs, Assignment};

/// The AWS operations, as the log and the faults name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    AssumeRole,
    GetUserId,
    GetGroupId,
    GetGroupMembershipId,
    CreateGroupMembership,
    DeleteGroupMembership,
    ListGroupMemberships,
    ListInstances,
    /// The permission set looked up by name (ListPermissionSets and DescribePermissionSet).
    ListPermissionSets,
    CreateAccountAssignment,
    DeleteAccountAssignment,
    DescribeAccountAssignmentCreationStatus,
    DescribeAccountAssignmentDeletionStatus,
    ListAccountAssignments,
    /// A permission set's session duration.
    DescribePermissionSet,
    GetInlinePolicyForPermissionSet,
    PutInlinePolicyToPermissionSet,
    DeleteInlinePolicyFromPermissionSet,
    ProvisionPermissionSet,
    DescribePermissionSetProvisioningStatus,
    ListAccountAssignmentsForPrincipal,
}

/// One call as it was made: the operation, its arguments, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub op: Op,
    pub args: Vec<String>,
    pub role_arn: String,
    pub session_name: String,
}

/// An asynchronous assignment change AWS is working on.
#[derive(Debug, Clone)]
struct Request {
    create: bool,
    assignment: Assignment,
    user_id: String,
    /// Status calls still answering IN_PROGRESS.
    polls_left: u32,
    /// Set once done: `None` succeeded, `Some(reason)` failed.
    done: Option<Option<String>>,
}

struct State {
    next: u64,
    /// (store, user name) → user id.
    users: BTreeMap<(String, String), String>,
    /// Ids of users deleted (`delete_user`): calls naming them answer ResourceNotFound.
    deleted_users: BTreeSet<String>,
    /// (store, display name) → group id.
    groups: BTreeMap<(String, String), String>,
    /// membership id → (store, group id, user id).
    memberships: BTreeMap<String, (String, String, String)>,
    /// instance ARN → its Identity Store id.
    instances: BTreeMap<String, String>,
    /// (instance ARN, permission set name) → ARN.
    permission_sets: BTreeMap<(String, String), String>,
    assignments: BTreeSet<(Assignment, String)>,
    requests: HashMap<String, Request>,
    /// The status call that completes an assignment change (0: at once, as moto does).
    completes_on_poll: u32,
    /// The FailureReason assignment changes end with, if they are to fail.
    failure: Option<String>,
    /// (role ARN, session name) of the sessions assumed and not forgotten.
    sessions: BTreeSet<(String, String)>,
    /// Roles whose AssumeRole is refused.
    denied: BTreeSet<String>,
    faults: Vec<Planned>,
    log: Vec<Logged>,
    /// Told of every call as it is logged (see `Memory::observe`).
    observer: Option<Observer>,
    /// How long a stalled call waits before it ends as the SDK's deadline ends it
    /// (`Error::Timeout`); `None`: until released.
    deadline: Option<Duration>,
    /// Permission-set inline policies, session durations, provisioning, group assignments.
    guard: guard::Guard,
    /// Budgets every call waits its turn at and tells what it met, as the SDK's do.
    budgets: Option<Arc<crate::Budgets>>,
}

/// Told of each call as it is logged, under the log's lock: calls are seen in log order.
/// It must not call back into the `Memory`.
pub type Observer = Arc<dyn Fn(&Logged) + Send + Sync>;

/// IAM Identity Center in memory. Set it up with `user`, `group`, `add_member`, `instance`,
/// `permission_set` (and for the session guard `set_inline_policy`, `set_session_duration`,
/// `set_group_permission_sets`); inject faults with `inject` and `deny_role`; read back with
/// `calls`, `count`, `group_members`, `assigned`, `inline_policy_of` and `provisionings`.
pub struct Memory {
    state: Mutex<State>,
    /// Bumped by `release`: stalled calls wait for a change.
    release: tokio::sync::watch::Sender<u64>,
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

impl Memory {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                next: 0,
                users: BTreeMap::new(),
                deleted_users: BTreeSet::new(),
                groups: BTreeMap::new(),
                memberships: BTreeMap::new(),
                instances: BTreeMap::new(),
                permission_sets: BTreeMap::new(),
                assignments: BTreeSet::new(),
                requests: HashMap::new(),
                completes_on_poll: 1,
                failure: None,
                sessions: BTreeSet::new(),
                denied: BTreeSet::new(),
                faults: vec![],
                log: vec![],
                observer: None,
                deadline: None,
                guard: guard::Guard::default(),
                budgets: None,
            }),
            release: tokio::sync::watch::Sender::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Poisoning needs a panic while the state is held, and nothing in here panics.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A user in `store`: its id (the same one when it exists already).
    pub fn user(&self, store: &str, name: &str) -> String {
        let mut s = self.state();
        let key = (store.to_owned(), name.to_owned());
        if let Some(id) = s.users.get(&key) {
            return id.clone();
        }
        let id = s.id("u");
        s.users.insert(key, id.clone());
        id
    }

    /// Deletes the user (as an admin would by hand): a user of that name made again gets
    /// a new id, and a membership created for the old one answers ResourceNotFound.
    pub fn delete_user(&self, store: &str, name: &str) {
        let mut s = self.state();
        if let Some(id) = s.users.remove(&(store.to_owned(), name.to_owned())) {
            s.deleted_users.insert(id);
        }
    }

    /// A group in `store`: its id (the same one when it exists already).
    pub fn group(&self, store: &str, display_name: &str) -> String {
        let mut s = self.state();
        let key = (store.to_owned(), display_name.to_owned());
        if let Some(id) = s.groups.get(&key) {
            return id.clone();
        }
        let id = s.id("g");
        s.groups.insert(key, id.clone());
        id
    }

    /// Makes the user a member of the group (as an admin would by hand): the membership id.
    pub fn add_member(&self, store: &str, group_id: &str, user_id: &str) -> String {
        let mut s = self.state();
        if let Some(id) = s.membership(store, group_id, user_id) {
            return id;
        }
        let id = s.id("m");
        s.memberships.insert(
            id.clone(),
            (store.to_owned(), group_id.to_owned(), user_id.to_owned()),
        );
        id
    }

    /// Removes the user from the group (as an admin would by hand).
    pub fn remove_member(&self, store: &str, group_id: &str, user_id: &str) {
        let mut s = self.state();
        if let Some(id) = s.membership(store, group_id, user_id) {
            s.memberships.remove(&id);
        }
    }

    /// The group's members: user ids.
    pub fn group_members(&self, store: &str, group_id: &str) -> BTreeSet<String> {
        self.state()
            .memberships
            .values()
            .filter(|(st, g, _)| st == store && g == group_id)
            .map(|(_, _, u)| u.clone())
            .collect()
    }

    /// An IAM Identity Center instance on `store`.
    pub fn instance(&self, instance_arn: &str, store: &str) {
        self.state()
            .instances
            .insert(instance_arn.to_owned(), store.to_owned());
    }

    /// A permission set on the instance: its ARN.
    pub fn permission_set(&self, instance_arn: &str, name: &str) -> String {
        let mut s = self.state();
        let key = (instance_arn.to_owned(), name.to_owned());
        if let Some(arn) = s.permission_sets.get(&key) {
            return arn.clone();
        }
        let arn = format!("{instance_arn}/{}", s.id("ps"));
        s.permission_sets.insert(key, arn.clone());
        arn
    }

    /// Assigns (or with `false`, unassigns) at once, as an admin would by hand.
    pub fn set_assigned(&self, a: &Assignment, user_id: &str, assigned: bool) {
        let mut s = self.state();
        let key = (a.clone(), user_id.to_owned());
        if assigned {
            s.assignments.insert(key);
        } else {
            s.assignments.remove(&key);
        }
    }

    /// Whether the user holds the assignment.
    pub fn assigned(&self, a: &Assignment, user_id: &str) -> bool {
        self.state()
            .assignments
            .contains(&(a.clone(), user_id.to_owned()))
    }

    /// Which status call completes an assignment change: 1 (the default) the first, 0 none
    /// (the create or delete answers SUCCEEDED at once).
    pub fn complete_on_poll(&self, n: u32) {
        self.state().completes_on_poll = n;
    }

    /// Assignment changes from now on end FAILED with `reason` (`None`: they succeed).
    pub fn fail_assignments(&self, reason: Option<&str>) {
        self.state().failure = reason.map(str::to_owned);
    }

    /// Every call made so far, in order (AssumeRole when a session was opened).
    pub fn calls(&self) -> Vec<Logged> {
        self.state().log.clone()
    }

    /// How many calls of `op` were made.
    pub fn count(&self, op: Op) -> usize {
        self.state().log.iter().filter(|l| l.op == op).count()
    }

    /// Tells `observer` of every call from now on, in log order: a test can place AWS calls
    /// in one sequence with other requests (the Kubernetes API's).
    pub fn observe(&self, observer: Observer) {
        self.state().observer = Some(observer);
    }

    /// A stalled call ends after `deadline` as the SDK's call deadline ends it (a
    /// `Timeout`; AssumeRole `timed_out`) instead of waiting for `release`.
    pub fn deadline(&self, deadline: Option<Duration>) {
        self.state().deadline = deadline;
    }

    /// Paces every call from now on by `budgets` (per account and API, as `Aws` does),
    /// each told of the throttling its calls meet.
    pub fn pace(&self, budgets: Arc<crate::Budgets>) {
        self.state().budgets = Some(budgets);
    }

    pub fn clear_calls(&self) {
        self.state().log.clear();
    }

    /// Whether a session of `target` as `role` is open (assumed and not forgotten).
    pub fn has_session(&self, target: &ActAs, role: crate::Role) -> bool {
        let (role_arn, session) = target.session(role);
        self.state()
            .sessions
            .contains(&(role_arn.to_owned(), session.to_owned()))
    }
}

impl State {
    fn push(&mut self, call: Logged) {
        if let Some(observer) = &self.observer {
            observer(&call);
        }
        self.log.push(call);
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }

    fn membership(&self, store: &str, group_id: &str, user_id: &str) -> Option<String> {
        self.memberships
            .iter()
            .find(|(_, (st, g, u))| st == store && g == group_id && u == user_id)
            .map(|(id, _)| id.clone())
    }
}

#[cfg(test)]
mod tests;
