//! IAM Identity Center in a test's moto account: its instance, permission sets, and the
//! account assignments AWS lists (what a grant of `accountAssignment` access changes).

use aws_sdk_ssoadmin::types::{PrincipalType, TargetType};

use super::AwsFixture;

impl AwsFixture {
    /// The account's one Identity Center instance (moto makes it per account and region).
    pub async fn instance_arn(&self) -> String {
        self.sso
            .list_instances()
            .send()
            .await
            .expect("list instances")
            .instances()
            .first()
            .and_then(|i| i.instance_arn().map(str::to_owned))
            .expect("an instance")
    }

    pub async fn create_permission_set(&self, name: &str) -> String {
        self.create_permission_set_lasting(name, "PT1H").await
    }

    /// A permission set whose sessions last `session_duration` (ISO-8601, e.g. `PT5S`:
    /// moto takes any, so a test can watch the guard prune a cut).
    pub async fn create_permission_set_lasting(
        &self,
        name: &str,
        session_duration: &str,
    ) -> String {
        self.sso
            .create_permission_set()
            .instance_arn(self.instance_arn().await)
            .name(name)
            // moto's default is the number 3600, which the SDK cannot read back: AWS sends
            // an ISO-8601 duration string.
            .session_duration(session_duration)
            .send()
            .await
            .expect("create permission set")
            .permission_set()
            .and_then(|p| p.permission_set_arn().map(str::to_owned))
            .expect("permission set arn")
    }

    /// USER principals AWS lists on the account for the permission set (duplicates show).
    pub async fn assigned_users(&self, account_id: &str, permission_set_arn: &str) -> Vec<String> {
        self.assigned(account_id, permission_set_arn, PrincipalType::User)
            .await
    }

    pub async fn assigned(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        kind: PrincipalType,
    ) -> Vec<String> {
        let mut out = vec![];
        let mut next = None;
        loop {
            let page = self
                .sso
                .list_account_assignments()
                .instance_arn(self.instance_arn().await)
                .account_id(account_id)
                .permission_set_arn(permission_set_arn)
                .set_next_token(next)
                .send()
                .await
                .expect("list account assignments");
            out.extend(
                page.account_assignments()
                    .iter()
                    .filter(|a| a.principal_type() == Some(&kind))
                    .filter_map(|a| a.principal_id().map(str::to_owned)),
            );
            match page.next_token() {
                Some(t) => next = Some(t.to_owned()),
                None => return out,
            }
        }
    }

    /// An assignment made by hand (or by another tool).
    pub async fn assign(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        kind: PrincipalType,
        principal_id: &str,
    ) {
        self.sso
            .create_account_assignment()
            .instance_arn(self.instance_arn().await)
            .target_id(account_id)
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(permission_set_arn)
            .principal_type(kind)
            .principal_id(principal_id)
            .send()
            .await
            .expect("create account assignment");
    }
}

impl AwsFixture {
    /// Removes an assignment by hand (an admin containing an account).
    pub async fn unassign(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        kind: PrincipalType,
        principal_id: &str,
    ) {
        self.sso
            .delete_account_assignment()
            .instance_arn(self.instance_arn().await)
            .target_id(account_id)
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(permission_set_arn)
            .principal_type(kind)
            .principal_id(principal_id)
            .send()
            .await
            .expect("delete account assignment");
    }
}

/// Inline policies: what the session guard writes into (see `tests/sessions.rs`).
impl AwsFixture {
    /// The permission set's inline policy as AWS holds it ("" when none).
    pub async fn inline_policy(&self, permission_set_arn: &str) -> String {
        self.sso
            .get_inline_policy_for_permission_set()
            .instance_arn(self.instance_arn().await)
            .permission_set_arn(permission_set_arn)
            .send()
            .await
            .expect("get inline policy")
            .inline_policy()
            .unwrap_or_default()
            .to_owned()
    }

    /// Writes the inline policy by hand (a customer's own statements, or an admin's edit).
    pub async fn put_inline_policy(&self, permission_set_arn: &str, document: &str) {
        self.sso
            .put_inline_policy_to_permission_set()
            .instance_arn(self.instance_arn().await)
            .permission_set_arn(permission_set_arn)
            .inline_policy(document)
            .send()
            .await
            .expect("put inline policy");
    }
}
