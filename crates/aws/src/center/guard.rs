//! The session guard's SSO Admin steps on the `Sso` handle: a permission set's session
//! duration and inline policy, provisioning it to its accounts, and the permission sets a
//! group is assigned.

use std::{collections::BTreeSet, time::Duration};

use super::Sso;
use crate::{Error, Progress};

impl Sso<'_> {
    /// How long a session of the permission set lasts: its SessionDuration, 1 h (AWS's
    /// default) when unset.
    pub async fn session_duration(
        &self,
        instance_arn: &str,
        permission_set_arn: &str,
    ) -> Result<Duration, Error> {
        self.center
            .session_duration(self.actor, instance_arn, permission_set_arn)
            .await
    }

    /// The permission set's inline policy document: empty when it has none.
    pub async fn inline_policy(
        &self,
        instance_arn: &str,
        permission_set_arn: &str,
    ) -> Result<String, Error> {
        self.center
            .inline_policy(self.actor, instance_arn, permission_set_arn)
            .await
    }

    /// Replaces the permission set's inline policy. Accounts see it only once the
    /// permission set is provisioned (`provision`). A document AWS rejects (over its size
    /// limit, say) fails with `Error::is_validation`.
    pub async fn put_inline_policy(
        &self,
        instance_arn: &str,
        permission_set_arn: &str,
        document: &str,
    ) -> Result<(), Error> {
        self.center
            .put_inline_policy(self.actor, instance_arn, permission_set_arn, document)
            .await
    }

    /// Removes the permission set's inline policy; one already gone counts as removed.
    pub async fn delete_inline_policy(
        &self,
        instance_arn: &str,
        permission_set_arn: &str,
    ) -> Result<(), Error> {
        self.center
            .delete_inline_policy(self.actor, instance_arn, permission_set_arn)
            .await
    }

    /// Asks AWS to provision the permission set (its current policies) to every account
    /// it is provisioned to.
    pub async fn provision(
        &self,
        instance_arn: &str,
        permission_set_arn: &str,
    ) -> Result<Progress, Error> {
        self.center
            .provision(self.actor, instance_arn, permission_set_arn)
            .await
    }

    /// Where the provisioning with `request_id` stands.
    pub async fn provisioning(
        &self,
        instance_arn: &str,
        request_id: &str,
    ) -> Result<Progress, Error> {
        self.center
            .provisioning_status(self.actor, instance_arn, request_id)
            .await
    }

    /// The permission sets (ARNs) the group is assigned on any account (all pages).
    pub async fn group_permission_sets(
        &self,
        instance_arn: &str,
        group_id: &str,
    ) -> Result<BTreeSet<String>, Error> {
        self.center
            .group_permission_sets(self.actor, instance_arn, group_id)
            .await
    }
}
