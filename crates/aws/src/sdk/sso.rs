//! IAM Identity Center (SSO Admin) operations, as one assumed role: permission-set account
//! assignments for USER principals. Creating and deleting one is asynchronous: AWS answers
//! with a request id and a status that is polled until it is SUCCEEDED or FAILED. Every call
//! waits its turn at the shared rate limit. GROUP assignments are never touched.

use std::collections::BTreeSet;

use aws_sdk_ssoadmin::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::{AccountAssignmentOperationStatus, PrincipalType, StatusValues, TargetType},
};

use super::{Paced, call_failed};
use crate::{Actor, Assignment, Error, Progress};

/// A failed call, its SDK error kept as an SSO Admin error.
pub(super) fn failed<E>(operation: &'static str, actor: Actor<'_>, err: SdkError<E>) -> Error
where
    aws_sdk_ssoadmin::Error: From<SdkError<E>>,
{
    call_failed::<_, _, aws_sdk_ssoadmin::Error>(operation, &actor.target.identity_store_id, err)
}

/// Instances visible to the role: (instance ARN, its Identity Store id).
pub(super) async fn instances(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
) -> Result<Vec<(String, String)>, Error> {
    let mut out = vec![];
    let mut next: Option<String> = None;
    loop {
        let _turn = limit.wait().await;
        let page = client
            .list_instances()
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| failed("ListInstances", actor, e))?;
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
pub(super) async fn permission_set_arn(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    name: &str,
) -> Result<String, Error> {
    let mut next: Option<String> = None;
    loop {
        let page = {
            let _turn = limit.wait().await;
            client
                .list_permission_sets()
                .instance_arn(instance_arn)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| failed("ListPermissionSets", actor, e))?
        };
        for arn in page.permission_sets() {
            let _turn = limit.wait().await;
            let described = client
                .describe_permission_set()
                .instance_arn(instance_arn)
                .permission_set_arn(arn)
                .send()
                .await
                .map_err(|e| failed("DescribePermissionSet", actor, e))?;
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
pub(super) async fn create(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    a: &Assignment,
    user_id: &str,
) -> Result<Progress, Error> {
    let _turn = limit.wait().await;
    let out = client
        .create_account_assignment()
        .instance_arn(&a.instance_arn)
        .target_id(&a.account_id)
        .target_type(TargetType::AwsAccount)
        .permission_set_arn(&a.permission_set_arn)
        .principal_type(PrincipalType::User)
        .principal_id(user_id)
        .send()
        .await
        .map_err(|e| failed("CreateAccountAssignment", actor, e))?;
    progress(
        "CreateAccountAssignment",
        out.account_assignment_creation_status(),
    )
}

/// Asks AWS to remove the user's assignment; one already gone counts as removed.
pub(super) async fn delete(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    a: &Assignment,
    user_id: &str,
) -> Result<Progress, Error> {
    let _turn = limit.wait().await;
    let out = client
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
        Ok(out) => progress(
            "DeleteAccountAssignment",
            out.account_assignment_deletion_status(),
        ),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ResourceNotFoundException") =>
        {
            Ok(Progress::Succeeded)
        }
        Err(e) => Err(failed("DeleteAccountAssignment", actor, e)),
    }
}

/// Where the create with `request_id` stands.
pub(super) async fn creation(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    request_id: &str,
) -> Result<Progress, Error> {
    let _turn = limit.wait().await;
    let out = client
        .describe_account_assignment_creation_status()
        .instance_arn(instance_arn)
        .account_assignment_creation_request_id(request_id)
        .send()
        .await
        .map_err(|e| failed("DescribeAccountAssignmentCreationStatus", actor, e))?;
    progress(
        "DescribeAccountAssignmentCreationStatus",
        out.account_assignment_creation_status(),
    )
}

/// Where the delete with `request_id` stands.
pub(super) async fn deletion(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    request_id: &str,
) -> Result<Progress, Error> {
    let _turn = limit.wait().await;
    let out = client
        .describe_account_assignment_deletion_status()
        .instance_arn(instance_arn)
        .account_assignment_deletion_request_id(request_id)
        .send()
        .await
        .map_err(|e| failed("DescribeAccountAssignmentDeletionStatus", actor, e))?;
    progress(
        "DescribeAccountAssignmentDeletionStatus",
        out.account_assignment_deletion_status(),
    )
}

/// Users (Identity Store ids) assigned the permission set on the account (paged).
pub(super) async fn users(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    a: &Assignment,
) -> Result<BTreeSet<String>, Error> {
    let mut out = BTreeSet::new();
    let mut next: Option<String> = None;
    loop {
        let _turn = limit.wait().await;
        let page = client
            .list_account_assignments()
            .instance_arn(&a.instance_arn)
            .account_id(&a.account_id)
            .permission_set_arn(&a.permission_set_arn)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| failed("ListAccountAssignments", actor, e))?;
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

fn progress(
    operation: &'static str,
    status: Option<&AccountAssignmentOperationStatus>,
) -> Result<Progress, Error> {
    let Some(status) = status else {
        return Err(Error::NoStatus { operation });
    };
    Ok(progress_of(
        status.status(),
        status.request_id(),
        status.failure_reason(),
    ))
}

/// An asynchronous change's status as the core reads it: an unknown status is still
/// in progress.
pub(super) fn progress_of(
    status: Option<&StatusValues>,
    request_id: Option<&str>,
    failure_reason: Option<&str>,
) -> Progress {
    let request_id = request_id.unwrap_or_default().to_owned();
    match status {
        Some(StatusValues::Succeeded) => Progress::Succeeded,
        Some(StatusValues::Failed) => Progress::Failed {
            request_id,
            reason: failure_reason.unwrap_or("no reason given").to_owned(),
        },
        _ => Progress::InProgress { request_id },
    }
}
