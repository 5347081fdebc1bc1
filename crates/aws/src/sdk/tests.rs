//! How the SDK's errors become ours: by their kind (timeouts) and AWS's code, the SDK error
//! kept as the source.

use aws_sdk_identitystore::operation::get_user_id::GetUserIdError;
use aws_smithy_runtime_api::{
    client::interceptors::context::Error as OperationError,
    http::{Response, StatusCode},
};
use aws_smithy_types::{body::SdkBody, error::ErrorMetadata};

use super::*;

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
