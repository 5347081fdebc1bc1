//! Faults on demand, answered with the SDK's own error types and the codes AWS sends, so
//! they are classified exactly as a real answer would be.

use aws_smithy_types::error::ErrorMetadata;

use super::{Memory, Op};
use crate::{Actor, Cause, Error};

/// What a call meets instead of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Throttled (`ThrottlingException`; STS: `Throttling`), after the SDK's retries.
    Throttle,
    /// `ConflictException`: a concurrent change of the same resource.
    Conflict,
    /// The caller is refused (`AccessDeniedException`; STS: `AccessDenied`).
    AccessDenied,
    /// No answer until `Memory::release`: a deadline around the call is what ends it.
    Stall,
}

/// A fault waiting for the next `left` calls of `op` (of any operation when `None`).
#[derive(Debug)]
pub(super) struct Planned {
    op: Option<Op>,
    fault: Fault,
    left: usize,
}

impl Memory {
    /// The next `times` calls of `op` meet `fault`.
    pub fn inject(&self, op: Op, fault: Fault, times: usize) {
        self.plan(Some(op), fault, times);
    }

    /// The next `times` calls, whatever their operation, meet `fault`.
    pub fn inject_any(&self, fault: Fault, times: usize) {
        self.plan(None, fault, times);
    }

    fn plan(&self, op: Option<Op>, fault: Fault, left: usize) {
        if left > 0 {
            self.state().faults.push(Planned { op, fault, left });
        }
    }

    /// AssumeRole of `role_arn` is refused (`allowed`: accepted again), as after a rotated
    /// role or trust policy.
    pub fn deny_role(&self, role_arn: &str, denied: bool) {
        let mut s = self.state();
        if denied {
            s.denied.insert(role_arn.to_owned());
        } else {
            s.denied.remove(role_arn);
        }
    }

    /// Drops every planned fault not met yet.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Lets every stalled call answer.
    pub fn release(&self) {
        let _held = self.state();
        self.release.send_modify(|n| *n += 1);
    }

    /// How many calls are stalled right now.
    pub fn stalled(&self) -> usize {
        // Each stalled call holds one receiver while it waits.
        self.release.receiver_count()
    }
}

/// Takes the first fault planned for `op`, counting it down.
pub(super) fn take(planned: &mut Vec<Planned>, op: Op) -> Option<Fault> {
    let i = planned.iter().position(|p| p.op.is_none_or(|o| o == op))?;
    let fault = planned[i].fault;
    planned[i].left -= 1;
    if planned[i].left == 0 {
        planned.remove(i);
    }
    Some(fault)
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// The error a real call of `op` would fail with on `fault` (never `Stall`).
pub(super) fn error(op: Op, fault: Fault, actor: Actor<'_>) -> Error {
    let message = match fault {
        Fault::Throttle => "Rate exceeded",
        Fault::Conflict => "The request conflicts with a concurrent change",
        Fault::AccessDenied | Fault::Stall => "User is not authorized to perform this action",
    };
    let target = actor.target;
    match op {
        Op::AssumeRole => {
            use aws_sdk_sts::operation::assume_role::AssumeRoleError;
            let code = match fault {
                Fault::Throttle => "Throttling",
                Fault::Conflict => "ConflictException",
                Fault::AccessDenied | Fault::Stall => "AccessDenied",
            };
            let (role_arn, session_name) = target.session(actor.role);
            Error::AssumeRole {
                role_arn: role_arn.to_owned(),
                session_name: session_name.to_owned(),
                source: aws_sdk_sts::Error::from(AssumeRoleError::generic(meta(code, message)))
                    .into(),
                timed_out: false,
            }
        }
        Op::GetUserId
        | Op::GetGroupId
        | Op::GetGroupMembershipId
        | Op::CreateGroupMembership
        | Op::DeleteGroupMembership
        | Op::ListGroupMemberships => {
            use aws_sdk_identitystore::{Error as E, types::error as t};
            let source = match fault {
                Fault::Throttle => E::ThrottlingException(
                    t::ThrottlingException::builder()
                        .message(message)
                        .meta(meta("ThrottlingException", message))
                        .build(),
                ),
                Fault::Conflict => E::ConflictException(
                    t::ConflictException::builder()
                        .message(message)
                        .meta(meta("ConflictException", message))
                        .build(),
                ),
                Fault::AccessDenied | Fault::Stall => E::AccessDeniedException(
                    t::AccessDeniedException::builder()
                        .message(message)
                        .meta(meta("AccessDeniedException", message))
                        .build(),
                ),
            };
            call(op, target, source.into())
        }
        _ => {
            use aws_sdk_ssoadmin::{Error as E, types::error as t};
            let source = match fault {
                Fault::Throttle => E::ThrottlingException(
                    t::ThrottlingException::builder()
                        .message(message)
                        .meta(meta("ThrottlingException", message))
                        .build(),
                ),
                Fault::Conflict => E::ConflictException(
                    t::ConflictException::builder()
                        .message(message)
                        .meta(meta("ConflictException", message))
                        .build(),
                ),
                Fault::AccessDenied | Fault::Stall => E::AccessDeniedException(
                    t::AccessDeniedException::builder()
                        .message(message)
                        .meta(meta("AccessDeniedException", message))
                        .build(),
                ),
            };
            call(op, target, source.into())
        }
    }
}

/// AWS's answer that the resource does not exist (an unknown request id).
pub(super) fn not_found(op: Op, actor: Actor<'_>) -> Error {
    use aws_sdk_ssoadmin::{Error as E, types::error as t};
    let message = "The specified resource does not exist";
    let source = E::ResourceNotFoundException(
        t::ResourceNotFoundException::builder()
            .message(message)
            .meta(meta("ResourceNotFoundException", message))
            .build(),
    );
    call(op, actor.target, source.into())
}

/// The Identity Store's answer to a call naming a user id that does not exist (deleted).
pub(super) fn user_not_found(op: Op, actor: Actor<'_>) -> Error {
    use aws_sdk_identitystore::{Error as E, types::error as t};
    let message = "USER not found.";
    let source = E::ResourceNotFoundException(
        t::ResourceNotFoundException::builder()
            .message(message)
            .meta(meta("ResourceNotFoundException", message))
            .build(),
    );
    call(op, actor.target, source.into())
}

/// SSO Admin's answer to a request invalid as sent (an inline policy over its size limit).
pub(super) fn invalid(op: Op, actor: Actor<'_>, message: &str) -> Error {
    use aws_sdk_ssoadmin::{Error as E, types::error as t};
    let source = E::ValidationException(
        t::ValidationException::builder()
            .message(message)
            .meta(meta("ValidationException", message))
            .build(),
    );
    call(op, actor.target, source.into())
}

fn call(op: Op, target: &crate::ActAs, source: Cause) -> Error {
    Error::Call {
        operation: op.name(),
        identity_store_id: target.identity_store_id.clone(),
        source,
    }
}

impl Op {
    /// The operation's AWS name, as errors name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::AssumeRole => "AssumeRole",
            Self::GetUserId => "GetUserId",
            Self::GetGroupId => "GetGroupId",
            Self::GetGroupMembershipId => "GetGroupMembershipId",
            Self::CreateGroupMembership => "CreateGroupMembership",
            Self::DeleteGroupMembership => "DeleteGroupMembership",
            Self::ListGroupMemberships => "ListGroupMemberships",
            Self::ListInstances => "ListInstances",
            Self::ListPermissionSets => "ListPermissionSets",
            Self::CreateAccountAssignment => "CreateAccountAssignment",
            Self::DeleteAccountAssignment => "DeleteAccountAssignment",
            Self::DescribeAccountAssignmentCreationStatus => {
                "DescribeAccountAssignmentCreationStatus"
            }
            Self::DescribeAccountAssignmentDeletionStatus => {
                "DescribeAccountAssignmentDeletionStatus"
            }
            Self::ListAccountAssignments => "ListAccountAssignments",
            Self::DescribePermissionSet => "DescribePermissionSet",
            Self::GetInlinePolicyForPermissionSet => "GetInlinePolicyForPermissionSet",
            Self::PutInlinePolicyToPermissionSet => "PutInlinePolicyToPermissionSet",
            Self::DeleteInlinePolicyFromPermissionSet => "DeleteInlinePolicyFromPermissionSet",
            Self::ProvisionPermissionSet => "ProvisionPermissionSet",
            Self::DescribePermissionSetProvisioningStatus => {
                "DescribePermissionSetProvisioningStatus"
            }
            Self::ListAccountAssignmentsForPrincipal => "ListAccountAssignmentsForPrincipal",
        }
    }
}

/// The error a call of `op` ends with when the SDK's deadline passes without an answer.
pub(super) fn timeout(op: Op, actor: Actor<'_>) -> Error {
    use aws_smithy_runtime_api::{client::result::SdkError, http::Response};
    let target = actor.target;
    match op {
        Op::AssumeRole => {
            use aws_sdk_sts::operation::assume_role::AssumeRoleError;
            let slow: SdkError<AssumeRoleError, Response> = SdkError::timeout_error("deadline");
            let (role_arn, session_name) = target.session(actor.role);
            Error::AssumeRole {
                role_arn: role_arn.to_owned(),
                session_name: session_name.to_owned(),
                source: aws_sdk_sts::Error::from(slow).into(),
                timed_out: true,
            }
        }
        Op::GetUserId
        | Op::GetGroupId
        | Op::GetGroupMembershipId
        | Op::CreateGroupMembership
        | Op::DeleteGroupMembership
        | Op::ListGroupMemberships => {
            use aws_sdk_identitystore::operation::get_user_id::GetUserIdError;
            let slow: SdkError<GetUserIdError, Response> = SdkError::timeout_error("deadline");
            timed_out(op, target, aws_sdk_identitystore::Error::from(slow).into())
        }
        _ => {
            use aws_sdk_ssoadmin::operation::list_instances::ListInstancesError;
            let slow: SdkError<ListInstancesError, Response> = SdkError::timeout_error("deadline");
            timed_out(op, target, aws_sdk_ssoadmin::Error::from(slow).into())
        }
    }
}

fn timed_out(op: Op, target: &crate::ActAs, source: Cause) -> Error {
    Error::Timeout {
        operation: op.name(),
        identity_store_id: target.identity_store_id.clone(),
        source,
    }
}
