//! IAM Identity Center (SSO Admin) operations, as one assumed role: permission-set account
//! assignments for USER principals. Creating and deleting one is asynchronous: AWS answers
//! with a request id and a status that is polled until it is SUCCEEDED or FAILED. Every call
//! waits its turn at the shared rate limit. GROUP assignments are never touched.

use std::{collections::BTreeSet, sync::Arc};

use aws_sdk_ssoadmin::{
    Client as SsoAdmin,
    error::ProvideErrorMetadata,
    types::{AccountAssignmentOperationStatus, PrincipalType, StatusValues, TargetType},
};

use aws_smithy_runtime_api::client::result::SdkError;

use super::{Error, Limiter, call_failed};

/// Where an assignment lives: instance, account and permission set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Assignment {
    pub instance_arn: String,
    pub account_id: String,
    pub permission_set_arn: String,
}

/// Where an asynchronous create or delete stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    InProgress { request_id: String },
    Succeeded,
    Failed { request_id: String, reason: String },
}

/// SSO Admin operations as one assumed role.
pub struct Sso {
    pub(super) client: SsoAdmin,
    pub(super) limit: Arc<Limiter>,
    /// Names the store in errors: the policy's Identity Store.
    pub(super) identity_store_id: String,
}

fn code<E: ProvideErrorMetadata>(err: &aws_sdk_ssoadmin::error::SdkError<E>) -> Option<&str> {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}

impl Sso {
    fn error<E, R>(&self, operation: &'static str, err: SdkError<E, R>) -> Error
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        call_failed(operation, &self.identity_store_id, err)
    }

    /// Instances visible to the role: (instance ARN, its Identity Store id).
    pub async fn instances(&self) -> Result<Vec<(String, String)>, Error> {
        let mut out = vec![];
        let mut next: Option<String> = None;
        loop {
            let _turn = self.limit.wait().await;
            let page = self
                .client
                .list_instances()
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| self.error("ListInstances", e))?;
            for i in page.instances() {
                if let (Some(arn), Some(store)) = (i.instance_arn(), i.identity_store_id()) {
                    out.push((arn.to_owned(), store.to_owned()));
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// The ARN of the permission set named `name` on `instance_arn`.
    pub async fn permission_set_arn(
        &self,
        instance_arn: &str,
        name: &str,
    ) -> Result<String, Error> {
        let mut next: Option<String> = None;
        loop {
            let page = {
                let _turn = self.limit.wait().await;
                self.client
                    .list_permission_sets()
                    .instance_arn(instance_arn)
                    .set_next_token(next.take())
                    .send()
                    .await
                    .map_err(|e| self.error("ListPermissionSets", e))?
            };
            for arn in page.permission_sets() {
                let _turn = self.limit.wait().await;
                let described = self
                    .client
                    .describe_permission_set()
                    .instance_arn(instance_arn)
                    .permission_set_arn(arn)
                    .send()
                    .await
                    .map_err(|e| self.error("DescribePermissionSet", e))?;
                if described.permission_set().and_then(|p| p.name()) == Some(name) {
                    return Ok(arn.clone());
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => {
                    return Err(Error::PermissionSetNotFound {
                        instance_arn: instance_arn.to_owned(),
                        name: name.to_owned(),
                    });
                }
            }
        }
    }

    /// Asks AWS to assign the permission set to the user on the account.
    pub async fn create(&self, a: &Assignment, user_id: &str) -> Result<Progress, Error> {
        let _turn = self.limit.wait().await;
        let out = self
            .client
            .create_account_assignment()
            .instance_arn(&a.instance_arn)
            .target_id(&a.account_id)
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(&a.permission_set_arn)
            .principal_type(PrincipalType::User)
            .principal_id(user_id)
            .send()
            .await
            .map_err(|e| self.error("CreateAccountAssignment", e))?;
        progress(out.account_assignment_creation_status())
    }

    /// Asks AWS to remove the user's assignment; one already gone counts as removed.
    pub async fn delete(&self, a: &Assignment, user_id: &str) -> Result<Progress, Error> {
        let _turn = self.limit.wait().await;
        let out = self
            .client
            .delete_account_assignment()
            .instance_arn(&a.instance_arn)
            .target_id(&a.account_id)
            .target_type(TargetType::AwsAccount)
            .permission_set_arn(&a.permission_set_arn)
            .principal_type(PrincipalType::User)
            .principal_id(user_id)
            .send()
            .await;
        match out {
            Ok(out) => progress(out.account_assignment_deletion_status()),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(Progress::Succeeded),
            Err(e) => Err(self.error("DeleteAccountAssignment", e)),
        }
    }

    /// Where the create with `request_id` stands.
    pub async fn creation(&self, instance_arn: &str, request_id: &str) -> Result<Progress, Error> {
        let _turn = self.limit.wait().await;
        let out = self
            .client
            .describe_account_assignment_creation_status()
            .instance_arn(instance_arn)
            .account_assignment_creation_request_id(request_id)
            .send()
            .await
            .map_err(|e| self.error("DescribeAccountAssignmentCreationStatus", e))?;
        progress(out.account_assignment_creation_status())
    }

    /// Where the delete with `request_id` stands.
    pub async fn deletion(&self, instance_arn: &str, request_id: &str) -> Result<Progress, Error> {
        let _turn = self.limit.wait().await;
        let out = self
            .client
            .describe_account_assignment_deletion_status()
            .instance_arn(instance_arn)
            .account_assignment_deletion_request_id(request_id)
            .send()
            .await
            .map_err(|e| self.error("DescribeAccountAssignmentDeletionStatus", e))?;
        progress(out.account_assignment_deletion_status())
    }

    /// Users (Identity Store ids) assigned the permission set on the account (paged).
    pub async fn users(&self, a: &Assignment) -> Result<BTreeSet<String>, Error> {
        let mut out = BTreeSet::new();
        let mut next: Option<String> = None;
        loop {
            let _turn = self.limit.wait().await;
            let page = self
                .client
                .list_account_assignments()
                .instance_arn(&a.instance_arn)
                .account_id(&a.account_id)
                .permission_set_arn(&a.permission_set_arn)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| self.error("ListAccountAssignments", e))?;
            for assignment in page.account_assignments() {
                if assignment.principal_type() == Some(&PrincipalType::User)
                    && let Some(id) = assignment.principal_id()
                {
                    out.insert(id.to_owned());
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }
}

fn progress(status: Option<&AccountAssignmentOperationStatus>) -> Result<Progress, Error> {
    let Some(status) = status else {
        return Err(Error::Call {
            operation: "AccountAssignmentStatus",
            identity_store_id: String::new(),
            message: "AWS answered without a status".into(),
        });
    };
    let request_id = status.request_id().unwrap_or_default().to_owned();
    Ok(match status.status() {
        Some(StatusValues::Succeeded) => Progress::Succeeded,
        Some(StatusValues::Failed) => Progress::Failed {
            request_id,
            reason: status
                .failure_reason()
                .unwrap_or("no reason given")
                .to_owned(),
        },
        _ => Progress::InProgress { request_id },
    })
}
