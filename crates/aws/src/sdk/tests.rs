//! How the SDK's errors become ours: by their kind (timeouts) and AWS's code, the SDK error
//! kept as the source.

use aws_sdk_identitystore::operation::get_user_id::GetUserIdError;
use aws_smithy_runtime_api::{
    client::interceptors::context::Error as OperationError,
    http::{Response, StatusCode},
};
use aws_smithy_types::{body::SdkBody, error::ErrorMetadata};

use super::*;
use crate::Progress;

fn answered(code: &str) -> SdkError<GetUserIdError, Response> {
    let meta = ErrorMetadata::builder()
        .code(code)
        .message("from AWS")
        .build();
    let status = StatusCode::try_from(400).expect("a status");
    SdkError::service_error(
        GetUserIdError::generic(meta),
        Response::new(status, SdkBody::empty()),
    )
}

#[test]
fn an_answer_is_a_call_error_with_aws_code_and_a_timeout_is_a_timeout() {
    let e = call_failed::<_, _, aws_sdk_identitystore::Error>(
        "GetUserId",
        "d-1",
        answered("ConflictException"),
    );
    assert!(matches!(e, Error::Call { .. }), "{e:?}");
    assert!(e.is_conflict());
    assert_eq!(
        e.to_string(),
        "GetUserId in Identity Store d-1: ConflictException: from AWS"
    );

    let slow: SdkError<GetUserIdError, Response> = SdkError::timeout_error("deadline");
    let e = call_failed::<_, _, aws_sdk_identitystore::Error>("GetUserId", "d-1", slow);
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert_eq!(e.reason(), "AwsTimeout");
    assert!(!e.is_access_denied());
    assert!(
        std::error::Error::source(&e).is_some(),
        "the SDK error is kept"
    );
}

#[test]
fn the_observer_reads_throttling_from_the_erased_operation_error() {
    let meta = ErrorMetadata::builder().code("ThrottlingException").build();
    let erased = OperationError::erase(GetUserIdError::generic(meta));
    assert_eq!(calls::code_of(&erased), Some("ThrottlingException"));
    let meta = ErrorMetadata::builder().code("Throttling").build();
    let sts =
        OperationError::erase(aws_sdk_sts::operation::assume_role::AssumeRoleError::generic(meta));
    assert_eq!(calls::code_of(&sts), Some("Throttling"));
    let unknown = OperationError::erase(std::io::Error::other("not an AWS operation"));
    assert_eq!(calls::code_of(&unknown), None);
}

#[test]
fn session_durations_are_read_as_iso8601() {
    let hours = |h: u64| Some(Duration::from_secs(h * 3600));
    assert_eq!(guard::iso8601_duration("PT1H"), hours(1));
    assert_eq!(guard::iso8601_duration("PT12H"), hours(12));
    assert_eq!(
        guard::iso8601_duration("PT1H30M"),
        Some(Duration::from_secs(5400))
    );
    assert_eq!(
        guard::iso8601_duration("PT90M"),
        Some(Duration::from_secs(5400))
    );
    assert_eq!(
        guard::iso8601_duration("PT3600S"),
        Some(Duration::from_secs(3600))
    );
    assert_eq!(
        guard::iso8601_duration("PT1H0M1.5S"),
        Some(Duration::from_millis(3_601_500))
    );
    assert_eq!(guard::iso8601_duration("P1D"), hours(24));
    assert_eq!(guard::iso8601_duration("P1W"), hours(7 * 24));
    assert_eq!(guard::iso8601_duration("P0DT2H"), hours(2));
    for bad in [
        "", "P", "PT", "1H", "PT1", "PTH", "PT1h", "pt1h", "P1M", "P1Y", "PT1.5H", "PT30M1H",
        "PT1H1H", "-PT1H", "PT-1H", "PT1..5S", "3600", "PT1H ", " PT1H", "P1DT",
    ] {
        assert_eq!(guard::iso8601_duration(bad), None, "{bad:?}");
    }
}

#[test]
fn provisioning_statuses_read_as_assignment_statuses_do() {
    use aws_sdk_ssoadmin::types::StatusValues;
    assert_eq!(
        sso::progress_of(Some(&StatusValues::Succeeded), Some("r-1"), None),
        Progress::Succeeded
    );
    assert_eq!(
        sso::progress_of(Some(&StatusValues::InProgress), Some("r-1"), None),
        Progress::InProgress {
            request_id: "r-1".into()
        }
    );
    assert_eq!(
        sso::progress_of(Some(&StatusValues::Failed), Some("r-1"), Some("quota")),
        Progress::Failed {
            request_id: "r-1".into(),
            reason: "quota".into()
        }
    );
    assert_eq!(
        sso::progress_of(None, Some("r-1"), None),
        Progress::InProgress {
            request_id: "r-1".into()
        },
        "no status yet: still working"
    );
}

#[test]
fn the_observer_reads_throttling_of_the_guard_calls() {
    use aws_sdk_ssoadmin::operation::{
        delete_inline_policy_from_permission_set::DeleteInlinePolicyFromPermissionSetError as Delete,
        describe_permission_set_provisioning_status::DescribePermissionSetProvisioningStatusError as Status,
        get_inline_policy_for_permission_set::GetInlinePolicyForPermissionSetError as Get,
        list_account_assignments_for_principal::ListAccountAssignmentsForPrincipalError as Groups,
        provision_permission_set::ProvisionPermissionSetError as Provision,
        put_inline_policy_to_permission_set::PutInlinePolicyToPermissionSetError as Put,
    };
    let meta = || ErrorMetadata::builder().code("ThrottlingException").build();
    let erased = [
        OperationError::erase(Get::generic(meta())),
        OperationError::erase(Put::generic(meta())),
        OperationError::erase(Delete::generic(meta())),
        OperationError::erase(Provision::generic(meta())),
        OperationError::erase(Status::generic(meta())),
        OperationError::erase(Groups::generic(meta())),
    ];
    for e in &erased {
        assert_eq!(calls::code_of(e), Some("ThrottlingException"));
    }
}
