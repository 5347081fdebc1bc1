//! What can go wrong talking to IAM Identity Center, classified by AWS's error code
//! (`ProvideErrorMetadata::code()`) and, for timeouts, by the SDK error's kind: never by
//! the text of a message.

use std::fmt;

use aws_smithy_types::error::{
    display::DisplayErrorContext, metadata::ProvideErrorMetadata, operation::BuildError,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("assuming role {role_arn} as {session_name}: {source}")]
    AssumeRole {
        role_arn: String,
        session_name: String,
        #[source]
        source: Cause,
        /// STS did not answer within the deadline (the role was not refused).
        timed_out: bool,
    },
    #[error("assuming role {role_arn} as {session_name}: STS returned no credentials")]
    NoCredentials {
        role_arn: String,
        session_name: String,
    },
    #[error("Identity Store {identity_store_id} has no user named {user:?}")]
    UserNotFound {
        identity_store_id: String,
        user: String,
    },
    #[error("Identity Store {identity_store_id} has no group named {group:?}")]
    GroupNotFound {
        identity_store_id: String,
        group: String,
    },
    #[error("{operation} in Identity Store {identity_store_id}: {source}")]
    Call {
        operation: &'static str,
        identity_store_id: String,
        #[source]
        source: Cause,
    },
    /// No answer within the call's deadline (`--aws-timeout` per attempt, bounded in total).
    #[error("{operation} in Identity Store {identity_store_id} timed out: {source}")]
    Timeout {
        operation: &'static str,
        identity_store_id: String,
        #[source]
        source: Cause,
    },
    #[error("{operation} answered without a status")]
    NoStatus { operation: &'static str },
    /// AWS finished an asynchronous assignment change as FAILED.
    #[error("{operation} request {request_id} failed: {reason}")]
    AssignmentFailed {
        operation: &'static str,
        request_id: String,
        reason: String,
    },
    #[error("membership of user {user_id} in group {group_id} still exists after deleting it")]
    NotRemoved { user_id: String, group_id: String },
    #[error("IAM Identity Center instance {instance_arn} has no permission set named {name:?}")]
    PermissionSetNotFound { instance_arn: String, name: String },
    #[error("{0}")]
    InstanceNotFound(String),
    /// DescribePermissionSet answered a SessionDuration that is not an ISO-8601 duration.
    #[error(
        "permission set {permission_set_arn}: session duration {value:?} is no ISO-8601 duration"
    )]
    SessionDuration {
        permission_set_arn: String,
        value: String,
    },
}

/// Codes of a caller AWS does not accept (its credentials, role or permissions).
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClient",
    "UnrecognizedClientException",
];

/// Codes of a throttled call, as the SDK's retry classifier knows them.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestThrottled",
];

/// Whether `code` says the call was throttled.
pub(crate) fn is_throttling_code(code: &str) -> bool {
    THROTTLING.contains(&code)
}

impl Error {
    /// Whether AWS refused the caller (a rotated role, trust policy or ExternalId), so
    /// another role may still succeed.
    pub fn is_access_denied(&self) -> bool {
        match self {
            Self::AssumeRole { timed_out, .. } => !timed_out,
            Self::NoCredentials { .. } => true,
            Self::Call { source, .. } => source.code().is_some_and(|c| DENIED.contains(&c)),
            _ => false,
        }
    }

    /// Whether AWS answered ConflictException: a concurrent change of the same resource,
    /// or one that already exists.
    pub fn is_conflict(&self) -> bool {
        self.code() == Some("ConflictException")
    }

    /// Whether AWS answered ValidationException: the request is invalid as sent (e.g. an
    /// inline policy over its size limit), so sending it again cannot succeed.
    pub fn is_validation(&self) -> bool {
        self.code() == Some("ValidationException")
    }

    /// Whether AWS throttled the call (after the SDK's own retries).
    pub fn is_throttling(&self) -> bool {
        self.code().is_some_and(is_throttling_code)
    }

    /// AWS's error code, when AWS answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::AssumeRole { source, .. }
            | Self::Call { source, .. }
            | Self::Timeout { source, .. } => source.code(),
            _ => None,
        }
    }

    /// Condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::AssumeRole {
                timed_out: true, ..
            }
            | Self::Timeout { .. } => "AwsTimeout",
            Self::AssumeRole { .. } | Self::NoCredentials { .. } => "AssumeRoleFailed",
            Self::UserNotFound { .. } => "UserNotFound",
            Self::GroupNotFound { .. } => "GroupNotFound",
            Self::Call { .. }
            | Self::NotRemoved { .. }
            | Self::NoStatus { .. }
            | Self::AssignmentFailed { .. }
            | Self::SessionDuration { .. } => "AwsError",
            Self::PermissionSetNotFound { .. } => "PermissionSetNotFound",
            Self::InstanceNotFound(_) => "InstanceNotFound",
        }
    }
}

/// What AWS (or the SDK on its way there) answered: the SDK's error, kept whole.
#[derive(Debug)]
pub enum Cause {
    Sts(Box<aws_sdk_sts::Error>),
    IdentityStore(Box<aws_sdk_identitystore::Error>),
    SsoAdmin(Box<aws_sdk_ssoadmin::Error>),
    /// A request the SDK could not build (an invalid input).
    Build(BuildError),
}

impl Cause {
    /// AWS's error code (`ConflictException`, `ThrottlingException`, …), if it answered one.
    pub fn code(&self) -> Option<&str> {
        self.metadata().and_then(ProvideErrorMetadata::code)
    }

    fn metadata(&self) -> Option<&dyn ProvideErrorMetadata> {
        match self {
            Self::Sts(e) => Some(e.as_ref()),
            Self::IdentityStore(e) => Some(e.as_ref()),
            Self::SsoAdmin(e) => Some(e.as_ref()),
            Self::Build(_) => None,
        }
    }

    fn inner(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            Self::Sts(e) => e.as_ref(),
            Self::IdentityStore(e) => e.as_ref(),
            Self::SsoAdmin(e) => e.as_ref(),
            Self::Build(e) => e,
        }
    }
}

/// AWS's code and message when it answered one (what a condition message needs); else the
/// whole chain (a timeout, a connection failure).
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meta = self.metadata();
        match (
            meta.and_then(ProvideErrorMetadata::code),
            meta.and_then(ProvideErrorMetadata::message),
        ) {
            (Some(code), Some(message)) => write!(f, "{code}: {message}"),
            (Some(code), None) => f.write_str(code),
            _ => write!(f, "{}", DisplayErrorContext(self.inner())),
        }
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.inner())
    }
}

impl From<aws_sdk_sts::Error> for Cause {
    fn from(e: aws_sdk_sts::Error) -> Self {
        Self::Sts(Box::new(e))
    }
}

impl From<aws_sdk_identitystore::Error> for Cause {
    fn from(e: aws_sdk_identitystore::Error) -> Self {
        Self::IdentityStore(Box::new(e))
    }
}

impl From<aws_sdk_ssoadmin::Error> for Cause {
    fn from(e: aws_sdk_ssoadmin::Error) -> Self {
        Self::SsoAdmin(Box::new(e))
    }
}

#[cfg(test)]
mod tests;
