//! `IdentityCenter` in memory: every call enters (`calls`: its session, the log, its fault),
//! then answers from the state; the session guard's calls are `guard`'s.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};

use super::{Memory, Op, Request, State, faults, guard};
use crate::{ActAs, Actor, Assignment, Call, Error, IdentityCenter, Progress};

impl Memory {
    /// Starts an assignment change: done at once when so configured, else a request.
    fn start(&self, create: bool, a: &Assignment, user_id: &str) -> Progress {
        let mut s = self.state();
        if s.completes_on_poll == 0 {
            let failure = s.failure.clone();
            let request_id = s.id("req");
            return finish(&mut s, create, a, user_id, failure, request_id);
        }
        let request_id = s.id("req");
        let request = Request {
            create,
            assignment: a.clone(),
            user_id: user_id.to_owned(),
            polls_left: s.completes_on_poll,
            done: None,
        };
        s.requests.insert(request_id.clone(), request);
        Progress::InProgress { request_id }
    }

    fn poll(&self, op: Op, actor: Actor<'_>, request_id: &str) -> Result<Progress, Error> {
        let mut s = self.state();
        let failure = s.failure.clone();
        let Some(r) = s.requests.get_mut(request_id) else {
            return Err(faults::not_found(op, actor));
        };
        if r.done.is_none() {
            r.polls_left = r.polls_left.saturating_sub(1);
            if r.polls_left > 0 {
                return Ok(Progress::InProgress {
                    request_id: request_id.to_owned(),
                });
            }
            r.done = Some(failure.clone());
            let r = r.clone();
            return Ok(finish(
                &mut s,
                r.create,
                &r.assignment,
                &r.user_id,
                failure,
                request_id.to_owned(),
            ));
        }
        Ok(match &r.done {
            Some(Some(reason)) => Progress::Failed {
                request_id: request_id.to_owned(),
                reason: reason.clone(),
            },
            _ => Progress::Succeeded,
        })
    }
}

/// Applies a finished change (unless it failed) and says how it ended.
fn finish(
    s: &mut State,
    create: bool,
    a: &Assignment,
    user_id: &str,
    failure: Option<String>,
    request_id: String,
) -> Progress {
    if let Some(reason) = failure {
        return Progress::Failed { request_id, reason };
    }
    let key = (a.clone(), user_id.to_owned());
    if create {
        s.assignments.insert(key);
    } else {
        s.assignments.remove(&key);
    }
    Progress::Succeeded
}

impl IdentityCenter for Memory {
    fn session<'a>(&'a self, actor: Actor<'a>) -> Call<'a, ()> {
        self.enter(Op::AssumeRole, actor, &[]).boxed()
    }

    fn forget<'a>(&'a self, target: &'a ActAs) -> BoxFuture<'a, ()> {
        self.state()
            .sessions
            .retain(|(role, name)| !(*name == target.session_name && *role == target.role_arn));
        futures::future::ready(()).boxed()
    }

    fn user_id<'a>(&'a self, actor: Actor<'a>, user_name: &'a str) -> Call<'a, String> {
        async move {
            self.enter(Op::GetUserId, actor, &[user_name]).await?;
            let store = &actor.target.identity_store_id;
            let key = (store.clone(), user_name.to_owned());
            self.state()
                .users
                .get(&key)
                .cloned()
                .ok_or_else(|| Error::UserNotFound {
                    identity_store_id: store.clone(),
                    user: user_name.to_owned(),
                })
        }
        .boxed()
    }

    fn group_id<'a>(&'a self, actor: Actor<'a>, display_name: &'a str) -> Call<'a, String> {
        async move {
            self.enter(Op::GetGroupId, actor, &[display_name]).await?;
            let store = &actor.target.identity_store_id;
            let key = (store.clone(), display_name.to_owned());
            self.state()
                .groups
                .get(&key)
                .cloned()
                .ok_or_else(|| Error::GroupNotFound {
                    identity_store_id: store.clone(),
                    group: display_name.to_owned(),
                })
        }
        .boxed()
    }

    fn membership_id<'a>(
        &'a self,
        actor: Actor<'a>,
        group_id: &'a str,
        user_id: &'a str,
    ) -> Call<'a, Option<String>> {
        async move {
            self.enter(Op::GetGroupMembershipId, actor, &[group_id, user_id])
                .await?;
            Ok(self
                .state()
                .membership(&actor.target.identity_store_id, group_id, user_id))
        }
        .boxed()
    }

    fn create_membership<'a>(
        &'a self,
        actor: Actor<'a>,
        group_id: &'a str,
        user_id: &'a str,
    ) -> Call<'a, String> {
        async move {
            let op = Op::CreateGroupMembership;
            self.enter(op, actor, &[group_id, user_id]).await?;
            let store = &actor.target.identity_store_id;
            let mut s = self.state();
            if s.deleted_users.contains(user_id) {
                return Err(faults::user_not_found(op, actor));
            }
            if s.membership(store, group_id, user_id).is_some() {
                return Err(faults::error(op, faults::Fault::Conflict, actor));
            }
            let id = s.id("m");
            s.memberships.insert(
                id.clone(),
                (store.clone(), group_id.to_owned(), user_id.to_owned()),
            );
            Ok(id)
        }
        .boxed()
    }

    fn delete_membership<'a>(&'a self, actor: Actor<'a>, membership_id: &'a str) -> Call<'a, bool> {
        async move {
            self.enter(Op::DeleteGroupMembership, actor, &[membership_id])
                .await?;
            let mut s = self.state();
            let store = &actor.target.identity_store_id;
            let found = s
                .memberships
                .get(membership_id)
                .is_some_and(|(st, _, _)| st == store);
            if found {
                s.memberships.remove(membership_id);
            }
            Ok(found)
        }
        .boxed()
    }

    fn members<'a>(
        &'a self,
        actor: Actor<'a>,
        group_id: &'a str,
    ) -> Call<'a, BTreeMap<String, String>> {
        async move {
            self.enter(Op::ListGroupMemberships, actor, &[group_id])
                .await?;
            let store = &actor.target.identity_store_id;
            Ok(self
                .state()
                .memberships
                .iter()
                .filter(|(_, (st, g, _))| st == store && g == group_id)
                .map(|(id, (_, _, u))| (u.clone(), id.clone()))
                .collect())
        }
        .boxed()
    }

    fn instances<'a>(&'a self, actor: Actor<'a>) -> Call<'a, Vec<(String, String)>> {
        async move {
            self.enter(Op::ListInstances, actor, &[]).await?;
            Ok(self
                .state()
                .instances
                .iter()
                .map(|(arn, store)| (arn.clone(), store.clone()))
                .collect())
        }
        .boxed()
    }

    fn permission_set_arn<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        name: &'a str,
    ) -> Call<'a, String> {
        async move {
            self.enter(Op::ListPermissionSets, actor, &[instance_arn, name])
                .await?;
            let key = (instance_arn.to_owned(), name.to_owned());
            self.state()
                .permission_sets
                .get(&key)
                .cloned()
                .ok_or_else(|| Error::PermissionSetNotFound {
                    instance_arn: instance_arn.to_owned(),
                    name: name.to_owned(),
                })
        }
        .boxed()
    }

    fn create_assignment<'a>(
        &'a self,
        actor: Actor<'a>,
        a: &'a Assignment,
        user_id: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let args = [a.account_id.as_str(), &a.permission_set_arn, user_id];
            self.enter(Op::CreateAccountAssignment, actor, &args)
                .await?;
            Ok(self.start(true, a, user_id))
        }
        .boxed()
    }

    fn delete_assignment<'a>(
        &'a self,
        actor: Actor<'a>,
        a: &'a Assignment,
        user_id: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let args = [a.account_id.as_str(), &a.permission_set_arn, user_id];
            self.enter(Op::DeleteAccountAssignment, actor, &args)
                .await?;
            if !self.assigned(a, user_id) {
                // AWS answers ResourceNotFoundException: already gone.
                return Ok(Progress::Succeeded);
            }
            Ok(self.start(false, a, user_id))
        }
        .boxed()
    }

    fn creation_status<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let op = Op::DescribeAccountAssignmentCreationStatus;
            self.enter(op, actor, &[instance_arn, request_id]).await?;
            self.poll(op, actor, request_id)
        }
        .boxed()
    }

    fn deletion_status<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let op = Op::DescribeAccountAssignmentDeletionStatus;
            self.enter(op, actor, &[instance_arn, request_id]).await?;
            self.poll(op, actor, request_id)
        }
        .boxed()
    }

    fn assigned_users<'a>(
        &'a self,
        actor: Actor<'a>,
        a: &'a Assignment,
    ) -> Call<'a, BTreeSet<String>> {
        async move {
            let args = [a.account_id.as_str(), &a.permission_set_arn];
            self.enter(Op::ListAccountAssignments, actor, &args).await?;
            Ok(self
                .state()
                .assignments
                .iter()
                .filter(|(held, _)| held == a)
                .map(|(_, u)| u.clone())
                .collect())
        }
        .boxed()
    }

    fn session_duration<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, Duration> {
        guard::session_duration(self, actor, instance_arn, permission_set_arn).boxed()
    }

    fn inline_policy<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, String> {
        guard::inline_policy(self, actor, instance_arn, permission_set_arn).boxed()
    }

    fn put_inline_policy<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
        document: &'a str,
    ) -> Call<'a, ()> {
        guard::put_inline_policy(self, actor, instance_arn, permission_set_arn, document).boxed()
    }

    fn delete_inline_policy<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, ()> {
        guard::delete_inline_policy(self, actor, instance_arn, permission_set_arn).boxed()
    }

    fn provision<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, Progress> {
        guard::provision(self, actor, instance_arn, permission_set_arn).boxed()
    }

    fn provisioning_status<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> Call<'a, Progress> {
        guard::provisioning_status(self, actor, instance_arn, request_id).boxed()
    }

    fn group_permission_sets<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        group_id: &'a str,
    ) -> Call<'a, BTreeSet<String>> {
        guard::group_permission_sets(self, actor, instance_arn, group_id).boxed()
    }
}
