//! Classification by AWS's error code, from SDK errors built the way the SDK builds them.

use aws_sdk_identitystore::{
    operation::get_user_id::GetUserIdError, types::error::ConflictException,
};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_types::error::ErrorMetadata;

use super::*;

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// A failed Identity Store call whose answer carried `code`.
fn call(code: &str) -> Error {
    let e = GetUserIdError::generic(meta(code, "whatever AWS says"));
    Error::Call {
        operation: "GetUserId",
        identity_store_id: "d-1".into(),
        source: aws_sdk_identitystore::Error::from(e).into(),
    }
}

#[test]
fn refusals_are_read_from_the_code() {
    for code in [
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
    ] {
        assert!(call(code).is_access_denied(), "{code}");
    }
    for code in [
        "ConflictException",
        "ThrottlingException",
        "ValidationException",
    ] {
        assert!(!call(code).is_access_denied(), "{code}");
    }
    // A message naming a refusal is not one: only the code counts.
    let e = GetUserIdError::generic(meta("ValidationException", "AccessDenied in text"));
    let wrapped = Error::Call {
        operation: "GetUserId",
        identity_store_id: "d-1".into(),
        source: aws_sdk_identitystore::Error::from(e).into(),
    };
    assert!(!wrapped.is_access_denied());
}

#[test]
fn conflicts_validation_and_throttling_are_read_from_the_code() {
    assert!(call("ConflictException").is_conflict());
    assert!(!call("ConflictException").is_throttling());
    assert!(call("ValidationException").is_validation());
    assert!(!call("ConflictException").is_validation());
    for code in [
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
    ] {
        assert!(call(code).is_throttling(), "{code}");
        assert!(!call(code).is_conflict(), "{code}");
    }
    // A modelled exception carries its code in its metadata, as the SDK deserializes it.
    let typed = aws_sdk_identitystore::Error::ConflictException(
        ConflictException::builder()
            .message("busy")
            .meta(meta("ConflictException", "busy"))
            .build(),
    );
    let e = Error::Call {
        operation: "CreateGroupMembership",
        identity_store_id: "d-1".into(),
        source: typed.into(),
    };
    assert!(e.is_conflict());
    assert_eq!(e.reason(), "AwsError");
}

#[test]
fn a_refused_or_unanswered_assume_role_keeps_its_reason() {
    let refused = Error::AssumeRole {
        role_arn: "arn:aws:iam::1:role/r".into(),
        session_name: "s".into(),
        source: aws_sdk_sts::Error::from(AssumeRoleError::generic(meta("AccessDenied", "no")))
            .into(),
        timed_out: false,
    };
    assert!(refused.is_access_denied());
    assert_eq!(refused.reason(), "AssumeRoleFailed");
    let slow = Error::AssumeRole {
        role_arn: "arn:aws:iam::1:role/r".into(),
        session_name: "s".into(),
        source: aws_sdk_sts::Error::from(AssumeRoleError::generic(ErrorMetadata::default())).into(),
        timed_out: true,
    };
    assert!(!slow.is_access_denied(), "a timeout is not a refusal");
    assert_eq!(slow.reason(), "AwsTimeout");
}

#[test]
fn the_message_shows_aws_code_and_message_and_the_source_is_kept() {
    let e = call("AccessDeniedException");
    assert_eq!(
        e.to_string(),
        "GetUserId in Identity Store d-1: AccessDeniedException: whatever AWS says"
    );
    let source = std::error::Error::source(&e).expect("the SDK error is the source");
    assert!(source.downcast_ref::<Cause>().is_some());
    let sdk = std::error::Error::source(source).expect("and the SDK's own error under it");
    assert!(sdk.downcast_ref::<aws_sdk_identitystore::Error>().is_some());
}

#[test]
fn timeouts_have_their_own_reason() {
    let e = Error::Timeout {
        operation: "ListGroupMemberships",
        identity_store_id: "d-1".into(),
        source: aws_sdk_identitystore::Error::from(GetUserIdError::generic(
            ErrorMetadata::default(),
        ))
        .into(),
    };
    assert_eq!(e.reason(), "AwsTimeout");
    assert!(!e.is_access_denied());
}
