//! Every AWS call reported to a `CallObserver`, by the action a role needs
//! (`service:operation`) and its outcome, and throttling answers reported apart: one SDK
//! interceptor shared by every client.

use std::sync::Arc;

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{
            Intercept,
            context::{Error as OperationError, FinalizerInterceptorContextRef},
        },
        orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::{config_bag::ConfigBag, error::metadata::ProvideErrorMetadata};

use crate::error::is_throttling_code;

/// Who wants to know about every AWS call (the operator's metrics). `service` is the IAM
/// prefix (`sts`, `identitystore`, `sso`) and `operation` the API's, so `service:operation`
/// is the action a role needs.
pub trait CallObserver: Send + Sync {
    /// A call ended (its retries included).
    fn call(&self, service: &str, operation: &str, outcome: CallOutcome);
    /// One attempt was throttled (the SDK may retry it).
    fn throttled(&self, service: &str, operation: &str);
    /// A budget (`service`, `account`) was made or its rate changed (AIMD): calls/s now.
    fn budget(&self, _service: &str, _account: &str, _per_second: f64) {}
}

/// How a call ended: what an alert needs, from the HTTP status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    /// No answer within its deadline.
    Timeout,
    Throttled,
    ClientError,
    ServerError,
    /// No HTTP answer at all (connection refused, reset, …).
    TransportError,
}

impl CallOutcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Timeout => "timeout",
            Self::Throttled => "throttled",
            Self::ClientError => "client_error",
            Self::ServerError => "server_error",
            Self::TransportError => "transport_error",
        }
    }
}

/// Reports each call's outcome from its HTTP status, or `Timeout` when it got no answer
/// within its deadline.
pub(super) struct Observed(pub(super) Arc<dyn CallObserver>);

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observed")
    }
}

impl Intercept for Observed {
    fn name(&self) -> &'static str {
        "breakglass-call-metrics"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let status = context.response().map(|r| r.status().as_u16());
        let code = match context.output_or_error() {
            Some(Err(e)) => e.as_operation_error().and_then(code_of),
            _ => None,
        };
        if status == Some(429) || code.is_some_and(is_throttling_code) {
            let (service, operation) = operation_of(cfg);
            self.0.throttled(&iam_prefix(&service), &operation);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = operation_of(cfg);
        let status = context.response().map(|r| r.status().as_u16());
        let outcome = match (context.output_or_error(), status) {
            (Some(Ok(_)), _) => CallOutcome::Ok,
            (Some(Err(e)), _)
                if e.is_timeout_error()
                    || e.as_connector_error().is_some_and(|c| c.is_timeout()) =>
            {
                CallOutcome::Timeout
            }
            (_, Some(429)) => CallOutcome::Throttled,
            (_, Some(400..=499)) => CallOutcome::ClientError,
            (_, Some(500..)) => CallOutcome::ServerError,
            _ => CallOutcome::TransportError,
        };
        self.0.call(&iam_prefix(&service), &operation, outcome);
        Ok(())
    }
}

/// The service as IAM policies name it (`sts`, `identitystore`, `sso`), so a metric's
/// `service:operation` is the action a role needs.
fn iam_prefix(sdk_service: &str) -> String {
    match sdk_service.to_lowercase().replace(' ', "").as_str() {
        "ssoadmin" => "sso".into(),
        other => other.to_owned(),
    }
}

fn operation_of(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>()
        .map(|m| (m.service().to_owned(), m.name().to_owned()))
        .unwrap_or_else(|| ("unknown".into(), "unknown".into()))
}

/// AWS's error code of a failed attempt. The operation's error is type-erased here, so it
/// is tried as each operation's error type this crate calls (an operation missing below
/// only goes uncounted as throttled).
pub(super) fn code_of(err: &OperationError) -> Option<&str> {
    macro_rules! first_code {
        ($($t:ty),* $(,)?) => {
            $(if let Some(e) = err.downcast_ref::<$t>() {
                return e.code();
            })*
        };
    }
    use aws_sdk_identitystore::operation as ids;
    use aws_sdk_ssoadmin::operation as sso;
    first_code!(
        aws_sdk_sts::operation::assume_role::AssumeRoleError,
        ids::get_user_id::GetUserIdError,
        ids::get_group_id::GetGroupIdError,
        ids::get_group_membership_id::GetGroupMembershipIdError,
        ids::create_group_membership::CreateGroupMembershipError,
        ids::delete_group_membership::DeleteGroupMembershipError,
        ids::list_group_memberships::ListGroupMembershipsError,
        sso::list_instances::ListInstancesError,
        sso::list_permission_sets::ListPermissionSetsError,
        sso::describe_permission_set::DescribePermissionSetError,
        sso::create_account_assignment::CreateAccountAssignmentError,
        sso::delete_account_assignment::DeleteAccountAssignmentError,
        sso::describe_account_assignment_creation_status::DescribeAccountAssignmentCreationStatusError,
        sso::describe_account_assignment_deletion_status::DescribeAccountAssignmentDeletionStatusError,
        sso::list_account_assignments::ListAccountAssignmentsError,
        sso::get_inline_policy_for_permission_set::GetInlinePolicyForPermissionSetError,
        sso::put_inline_policy_to_permission_set::PutInlinePolicyToPermissionSetError,
        sso::delete_inline_policy_from_permission_set::DeleteInlinePolicyFromPermissionSetError,
        sso::provision_permission_set::ProvisionPermissionSetError,
        sso::describe_permission_set_provisioning_status::DescribePermissionSetProvisioningStatusError,
        sso::list_account_assignments_for_principal::ListAccountAssignmentsForPrincipalError,
    );
    None
}
