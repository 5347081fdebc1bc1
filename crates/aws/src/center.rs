//! The seam: [`IdentityCenter`] is one method per AWS call the operator makes, as a
//! target's read or change role; [`Store`] and [`Sso`] are what callers hold, and add the
//! idempotent steps (ensure a membership, remove one, eligibility) once for every
//! implementation.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use futures::future::BoxFuture;

use crate::{ActAs, Assignment, Error, Progress, Role};

mod guard;

/// One call's answer, boxed so the trait can be used as `dyn IdentityCenter`.
pub type Call<'a, T> = BoxFuture<'a, Result<T, Error>>;

/// Who makes a call: a target, as its read or its change role.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub target: &'a ActAs,
    pub role: Role,
}

/// IAM Identity Center as the operator uses it. Each method is one AWS operation (a listing
/// reads every page) with AWS's answers already interpreted where the operator always reads
/// them one way: not found → `UserNotFound`/`GroupNotFound`/`None`/`false`, an assignment
/// already gone → `Succeeded`.
pub trait IdentityCenter: Send + Sync {
    /// Opens (or reuses) the actor's session: fails as `AssumeRole` when the role is refused.
    fn session<'a>(&'a self, actor: Actor<'a>) -> Call<'a, ()>;
    /// Drops a target's cached change sessions, e.g. after an error that may mean their
    /// credentials went bad, or once the grant they are named after has ended.
    fn forget<'a>(&'a self, target: &'a ActAs) -> BoxFuture<'a, ()>;

    /// GetUserId by `userName`.
    fn user_id<'a>(&'a self, actor: Actor<'a>, user_name: &'a str) -> Call<'a, String>;
    /// GetGroupId by `displayName`.
    fn group_id<'a>(&'a self, actor: Actor<'a>, display_name: &'a str) -> Call<'a, String>;
    /// GetGroupMembershipId: `None` when the user is not a member.
    fn membership_id<'a>(
        &'a self,
        actor: Actor<'a>,
        group_id: &'a str,
        user_id: &'a str,
    ) -> Call<'a, Option<String>>;
    /// CreateGroupMembership: ConflictException when it exists already (as AWS answers).
    fn create_membership<'a>(
        &'a self,
        actor: Actor<'a>,
        group_id: &'a str,
        user_id: &'a str,
    ) -> Call<'a, String>;
    /// DeleteGroupMembership: `true` when it existed, `false` when it was already gone.
    fn delete_membership<'a>(&'a self, actor: Actor<'a>, membership_id: &'a str) -> Call<'a, bool>;
    /// ListGroupMemberships: user id → membership id.
    fn members<'a>(
        &'a self,
        actor: Actor<'a>,
        group_id: &'a str,
    ) -> Call<'a, BTreeMap<String, String>>;

    /// ListInstances: (instance ARN, its Identity Store id).
    fn instances<'a>(&'a self, actor: Actor<'a>) -> Call<'a, Vec<(String, String)>>;
    /// ListPermissionSets and DescribePermissionSet until one is named `name`.
    fn permission_set_arn<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        name: &'a str,
    ) -> Call<'a, String>;
    /// CreateAccountAssignment for a USER principal.
    fn create_assignment<'a>(
        &'a self,
        actor: Actor<'a>,
        assignment: &'a Assignment,
        user_id: &'a str,
    ) -> Call<'a, Progress>;
    /// DeleteAccountAssignment for a USER principal; one already gone is `Succeeded`.
    fn delete_assignment<'a>(
        &'a self,
        actor: Actor<'a>,
        assignment: &'a Assignment,
        user_id: &'a str,
    ) -> Call<'a, Progress>;
    /// DescribeAccountAssignmentCreationStatus.
    fn creation_status<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> Call<'a, Progress>;
    /// DescribeAccountAssignmentDeletionStatus.
    fn deletion_status<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> Call<'a, Progress>;
    /// ListAccountAssignments: the USER principals assigned.
    fn assigned_users<'a>(
        &'a self,
        actor: Actor<'a>,
        assignment: &'a Assignment,
    ) -> Call<'a, BTreeSet<String>>;

    /// DescribePermissionSet's SessionDuration (1 h, AWS's default, when unset).
    fn session_duration<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, Duration>;
    /// GetInlinePolicyForPermissionSet: empty when the permission set has none.
    fn inline_policy<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, String>;
    /// PutInlinePolicyToPermissionSet: replaces the inline policy (ValidationException when
    /// AWS rejects the document, e.g. over its size limit).
    fn put_inline_policy<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
        document: &'a str,
    ) -> Call<'a, ()>;
    /// DeleteInlinePolicyFromPermissionSet; one already gone counts as deleted.
    fn delete_inline_policy<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, ()>;
    /// ProvisionPermissionSet to ALL_PROVISIONED_ACCOUNTS.
    fn provision<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, Progress>;
    /// DescribePermissionSetProvisioningStatus.
    fn provisioning_status<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> Call<'a, Progress>;
    /// ListAccountAssignmentsForPrincipal for a GROUP principal: the distinct permission
    /// set ARNs it is assigned on any account.
    fn group_permission_sets<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        group_id: &'a str,
    ) -> Call<'a, BTreeSet<String>>;
}

impl dyn IdentityCenter + '_ {
    /// Identity Store access as the target's read or change role.
    pub async fn store<'a>(&'a self, target: &'a ActAs, role: Role) -> Result<Store<'a>, Error> {
        let actor = Actor { target, role };
        self.session(actor).await?;
        Ok(Store {
            center: self,
            actor,
        })
    }

    /// IAM Identity Center (SSO Admin) access as the target's read or change role.
    pub async fn sso<'a>(&'a self, target: &'a ActAs, role: Role) -> Result<Sso<'a>, Error> {
        let actor = Actor { target, role };
        self.session(actor).await?;
        Ok(Sso {
            center: self,
            actor,
        })
    }
}

/// Identity Store operations on the target's store, as one of its roles. Changes are
/// idempotent: a membership that already exists counts as created, one already gone as
/// deleted.
pub struct Store<'a> {
    center: &'a dyn IdentityCenter,
    actor: Actor<'a>,
}

impl Store<'_> {
    pub async fn user_id(&self, user_name: &str) -> Result<String, Error> {
        self.center.user_id(self.actor, user_name).await
    }

    pub async fn group_id(&self, display_name: &str) -> Result<String, Error> {
        self.center.group_id(self.actor, display_name).await
    }

    pub async fn membership_id(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, Error> {
        self.center
            .membership_id(self.actor, group_id, user_id)
            .await
    }

    /// Creates the membership; an existing one counts as done. `look_first`: an earlier
    /// attempt may have created it already, so find it before creating (emulators that
    /// accept a duplicate membership would otherwise make a second one; AWS answers
    /// ConflictException, handled below).
    pub async fn ensure_membership(
        &self,
        group_id: &str,
        user_id: &str,
        look_first: bool,
    ) -> Result<String, Error> {
        if look_first && let Some(existing) = self.membership_id(group_id, user_id).await? {
            return Ok(existing);
        }
        match self
            .center
            .create_membership(self.actor, group_id, user_id)
            .await
        {
            // Someone else created it meanwhile.
            Err(e) if e.is_conflict() => self.membership_id(group_id, user_id).await?.ok_or(e),
            other => other,
        }
    }

    /// Removes the user from the group. `recorded`: the membership id the grant recorded,
    /// deleted without a look-up first (a user is a member of a group at most once, so a
    /// successful delete means the user is out). When it is already gone, the user may have
    /// been re-added by hand under a new id: that one is found and deleted too. The sweep
    /// lists the group afterwards and takes back anything left.
    pub async fn remove_membership(
        &self,
        group_id: &str,
        user_id: &str,
        recorded: Option<&str>,
    ) -> Result<(), Error> {
        if let Some(id) = recorded
            && self.delete_membership(id).await?
        {
            return Ok(());
        }
        let Some(current) = self.membership_id(group_id, user_id).await? else {
            return Ok(());
        };
        self.delete_membership(&current).await?;
        match self.membership_id(group_id, user_id).await? {
            None => Ok(()),
            Some(_) => Err(Error::NotRemoved {
                user_id: user_id.to_owned(),
                group_id: group_id.to_owned(),
            }),
        }
    }

    /// Every member of the group: user id → membership id (all pages).
    pub async fn members(&self, group_id: &str) -> Result<BTreeMap<String, String>, Error> {
        self.center.members(self.actor, group_id).await
    }

    /// Deletes one membership: `true` when it existed, `false` when it was already gone.
    pub async fn delete_membership(&self, membership_id: &str) -> Result<bool, Error> {
        self.center
            .delete_membership(self.actor, membership_id)
            .await
    }

    /// Whether the user is a member of any of the named groups (for eligibility).
    pub async fn member_of_any(
        &self,
        user_id: &str,
        group_names: &[String],
    ) -> Result<bool, Error> {
        for name in group_names {
            let group_id = match self.group_id(name).await {
                Ok(g) => g,
                Err(Error::GroupNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if self.membership_id(&group_id, user_id).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// SSO Admin operations as one of the target's roles: permission-set account assignments
/// for USER principals, and (in `guard`) the session guard's permission-set inline policies.
/// Creating and deleting an assignment, and provisioning a permission set, are
/// asynchronous: AWS answers with a request id and a status that is polled until it is
/// SUCCEEDED or FAILED. GROUP assignments are only ever read.
pub struct Sso<'a> {
    center: &'a dyn IdentityCenter,
    actor: Actor<'a>,
}

impl Sso<'_> {
    /// Instances visible to the role: (instance ARN, its Identity Store id).
    pub async fn instances(&self) -> Result<Vec<(String, String)>, Error> {
        self.center.instances(self.actor).await
    }

    /// The ARN of the permission set named `name` on `instance_arn`.
    pub async fn permission_set_arn(
        &self,
        instance_arn: &str,
        name: &str,
    ) -> Result<String, Error> {
        self.center
            .permission_set_arn(self.actor, instance_arn, name)
            .await
    }

    /// Asks AWS to assign the permission set to the user on the account.
    pub async fn create(&self, a: &Assignment, user_id: &str) -> Result<Progress, Error> {
        self.center.create_assignment(self.actor, a, user_id).await
    }

    /// Asks AWS to remove the user's assignment; one already gone counts as removed.
    pub async fn delete(&self, a: &Assignment, user_id: &str) -> Result<Progress, Error> {
        self.center.delete_assignment(self.actor, a, user_id).await
    }

    /// Where the create with `request_id` stands.
    pub async fn creation(&self, instance_arn: &str, request_id: &str) -> Result<Progress, Error> {
        self.center
            .creation_status(self.actor, instance_arn, request_id)
            .await
    }

    /// Where the delete with `request_id` stands.
    pub async fn deletion(&self, instance_arn: &str, request_id: &str) -> Result<Progress, Error> {
        self.center
            .deletion_status(self.actor, instance_arn, request_id)
            .await
    }

    /// Users (Identity Store ids) assigned the permission set on the account (paged).
    pub async fn users(&self, a: &Assignment) -> Result<BTreeSet<String>, Error> {
        self.center.assigned_users(self.actor, a).await
    }
}
