//! AWS IAM Identity Center access: STS AssumeRole into a policy's roles, then Identity Store
//! reads (`store`) and membership changes, every call paced by one client-side rate limit
//! (`limit`). Credentials stay in memory and are never logged.
//!
//! Sessions: look-ups and sweeps act as the policy's read role (`readRoleArn`, else
//! `roleArn`) in one shared session per role; changes act as `roleArn` in a session named
//! after the grant they are for, so CloudTrail tells which grant made each change. Only
//! credentials are cached (a few hundred bytes each, at most `MAX_SESSIONS`); a client is
//! built around them per use.

mod calls;
mod limit;
mod sessions;
mod sso;
mod store;

use self::sessions::{Cached, SessionKey, Sessions};
pub use self::{
    limit::Limiter,
    sso::{Assignment, Progress, Sso},
    store::Store,
};

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_identitystore::Client as IdentityStore;
use aws_smithy_runtime_api::client::{interceptors::SharedInterceptor, result::SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::telemetry::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("assuming role {role_arn} as {session_name}: {message}")]
    AssumeRole {
        role_arn: String,
        session_name: String,
        message: String,
        /// STS did not answer within the deadline (the role was not refused).
        timed_out: bool,
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
    #[error("{operation} in Identity Store {identity_store_id}: {message}")]
    Call {
        operation: &'static str,
        identity_store_id: String,
        message: String,
    },
    /// No answer within the call's deadline (`--aws-timeout` per attempt, bounded in total).
    #[error("{operation} in Identity Store {identity_store_id} timed out: {message}")]
    Timeout {
        operation: &'static str,
        identity_store_id: String,
        message: String,
    },
    #[error("membership of user {user_id} in group {group_id} still exists after deleting it")]
    NotRemoved { user_id: String, group_id: String },
    #[error("IAM Identity Center instance {instance_arn} has no permission set named {name:?}")]
    PermissionSetNotFound { instance_arn: String, name: String },
    #[error("{0}")]
    InstanceNotFound(String),
}

impl Error {
    /// Whether AWS refused the caller (a rotated role, trust policy or ExternalId), so
    /// another role may still succeed.
    pub fn is_access_denied(&self) -> bool {
        match self {
            Self::AssumeRole { timed_out, .. } => !timed_out,
            Self::Call { message, .. } => {
                message.contains("AccessDenied") || message.contains("UnrecognizedClient")
            }
            _ => false,
        }
    }
}

/// Whether a failed call got no answer in time: the SDK's attempt or operation deadline, or
/// the connector's connect timeout. Read from the error's kind, never from its text.
fn timed_out<E, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => failure.is_timeout(),
        _ => false,
    }
}

/// A failed Identity Store or SSO Admin call: `Timeout` when it got no answer in time.
fn call_failed<E, R>(operation: &'static str, identity_store_id: &str, err: SdkError<E, R>) -> Error
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = DisplayErrorContext(&err).to_string();
    let identity_store_id = identity_store_id.to_owned();
    if timed_out(&err) {
        Error::Timeout {
            operation,
            identity_store_id,
            message,
        }
    } else {
        Error::Call {
            operation,
            identity_store_id,
            message,
        }
    }
}

impl Error {
    /// Condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::AssumeRole {
                timed_out: true, ..
            }
            | Self::Timeout { .. } => "AwsTimeout",
            Self::AssumeRole { .. } => "AssumeRoleFailed",
            Self::UserNotFound { .. } => "UserNotFound",
            Self::GroupNotFound { .. } => "GroupNotFound",
            Self::Call { .. } | Self::NotRemoved { .. } => "AwsError",
            Self::PermissionSetNotFound { .. } => "PermissionSetNotFound",
            Self::InstanceNotFound(_) => "InstanceNotFound",
        }
    }
}

/// Where and as whom to act: everything needed to assume the roles and reach the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Assumed for changes.
    pub role_arn: String,
    /// Assumed for look-ups and sweeps; `role_arn` when unset.
    pub read_role_arn: Option<String>,
    pub external_id: Option<String>,
    pub region: Option<String>,
    pub identity_store_id: String,
    /// The session name for changes: names the grant (or the sweep).
    pub session_name: String,
}

/// Which of a target's roles to act as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Read,
    Write,
}

/// Session name of the shared read sessions.
pub const READ_SESSION: &str = "breakglass-read";

/// Attempts per call (the SDK's standard retry mode retries throttling, 5xx and timeouts).
const ATTEMPTS: u32 = 3;
/// Above the SDK's default connect timeout only if the attempt deadline is.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// Room for the standard mode's jittered backoff between attempts (at most 1 s, then 2 s).
const RETRY_PAUSES: Duration = Duration::from_secs(3);

/// The deadlines of every AWS call: `attempt` per attempt, and all attempts with the pauses
/// between them (`call_deadline`).
pub fn timeouts(attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(attempt.min(CONNECT_TIMEOUT))
        .operation_attempt_timeout(attempt)
        .operation_timeout(call_deadline(attempt))
        .build()
}

/// The longest one AWS call can take, its retries included.
pub fn call_deadline(attempt: Duration) -> Duration {
    attempt * ATTEMPTS + RETRY_PAUSES
}

/// Credentials kept at most; beyond, the session closest to expiry is dropped first.
const MAX_SESSIONS: usize = 4096;

/// Shared AWS access for the controller: the base SDK config and the assumed-role sessions.
#[derive(Clone)]
pub struct Aws {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    sessions: Arc<Sessions>,
    interceptor: Option<SharedInterceptor>,
    limit: Arc<Limiter>,
}

fn session_key(target: &Target, role: Role) -> SessionKey {
    match role {
        Role::Read => SessionKey {
            role_arn: target
                .read_role_arn
                .clone()
                .unwrap_or_else(|| target.role_arn.clone()),
            external_id: target.external_id.clone(),
            session_name: READ_SESSION.into(),
        },
        Role::Write => SessionKey {
            role_arn: target.role_arn.clone(),
            external_id: target.external_id.clone(),
            session_name: target.session_name.clone(),
        },
    }
}

/// One hour: the longest any role allows by default, so a grant's revocation usually
/// reuses the session that granted it.
const SESSION_SECONDS: i32 = 3600;

/// A RoleSessionName STS accepts (2–64 chars of `[\w+=,.@-]`) that names the grant, so its
/// changes can be found in CloudTrail. Long names keep a stable hash suffix to stay unique.
pub fn session_name(namespace: &str, name: &str) -> String {
    let raw = format!("breakglass@{namespace}.{name}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.len() <= 64 {
        return clean;
    }
    // FNV-1a: stable across releases, unlike std's hasher.
    let hash = raw.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}-{hash:016x}", &clean[..47])
}

impl Aws {
    /// From the standard AWS environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials chain).
    /// Every call gets `attempt` per attempt (connecting included) and a bound on its
    /// retries together, so a request that is never answered fails like any other error.
    pub async fn from_env(attempt: Duration) -> Self {
        Self::new(
            aws_config::defaults(BehaviorVersion::latest())
                .timeout_config(timeouts(attempt))
                .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS))
                .load()
                .await,
        )
    }

    pub fn new(base: SdkConfig) -> Self {
        let sts = aws_sdk_sts::Client::new(&base);
        Self {
            base,
            sts,
            sessions: Arc::new(Sessions::new(MAX_SESSIONS)),
            interceptor: None,
            limit: Arc::new(Limiter::new(10.0)),
        }
    }

    /// Paces every AWS call (STS included) at `per_second` across all targets.
    pub fn with_rate(self, per_second: f64) -> Self {
        Self {
            limit: Arc::new(Limiter::new(per_second)),
            ..self
        }
    }

    /// Counts every AWS call (STS and Identity Store) by operation and outcome.
    pub fn with_metrics(self, metrics: Arc<Metrics>) -> Self {
        let interceptor = SharedInterceptor::new(calls::CallMetrics(metrics));
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.base)
                .interceptor(interceptor.clone())
                .build(),
        );
        Self {
            sts,
            interceptor: Some(interceptor),
            ..self
        }
    }

    /// IAM Identity Center (SSO Admin) access as the target's read or write role.
    pub async fn sso(&self, target: &Target, role: Role) -> Result<Sso, Error> {
        let credentials = self.credentials(&session_key(target, role)).await?;
        let mut config =
            aws_sdk_ssoadmin::config::Builder::from(&self.base).credentials_provider(credentials);
        if let Some(interceptor) = &self.interceptor {
            config = config.interceptor(interceptor.clone());
        }
        if let Some(region) = &target.region {
            config = config.region(aws_config::Region::new(region.clone()));
        }
        Ok(Sso {
            client: aws_sdk_ssoadmin::Client::from_conf(config.build()),
            limit: self.limit.clone(),
            identity_store_id: target.identity_store_id.clone(),
        })
    }

    /// Identity Store access as the target's read or write role.
    pub async fn store(&self, target: &Target, role: Role) -> Result<Store, Error> {
        let credentials = self.credentials(&session_key(target, role)).await?;
        let mut config = aws_sdk_identitystore::config::Builder::from(&self.base)
            .credentials_provider(credentials);
        if let Some(interceptor) = &self.interceptor {
            config = config.interceptor(interceptor.clone());
        }
        if let Some(region) = &target.region {
            config = config.region(aws_config::Region::new(region.clone()));
        }
        Ok(Store {
            client: IdentityStore::from_conf(config.build()),
            identity_store_id: target.identity_store_id.clone(),
            limit: self.limit.clone(),
        })
    }

    /// The session's credentials: cached, or one `AssumeRole` shared by everyone waiting for
    /// this session (and only them).
    async fn credentials(
        &self,
        key: &SessionKey,
    ) -> Result<aws_credential_types::Credentials, Error> {
        self.sessions.get(key, || self.assume(key)).await
    }

    async fn assume(&self, key: &SessionKey) -> Result<Cached, Error> {
        let assume_error = |message: String, timed_out: bool| Error::AssumeRole {
            role_arn: key.role_arn.clone(),
            session_name: key.session_name.clone(),
            message,
            timed_out,
        };
        let now = SystemTime::now();
        let _turn = self.limit.wait().await;
        let out = self
            .sts
            .assume_role()
            .role_arn(&key.role_arn)
            .role_session_name(&key.session_name)
            .set_external_id(key.external_id.clone())
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| assume_error(DisplayErrorContext(&e).to_string(), timed_out(&e)))?;
        let creds = out
            .credentials
            .ok_or_else(|| assume_error("STS returned no credentials".into(), false))?;
        let expires = SystemTime::try_from(creds.expiration)
            .unwrap_or_else(|_| now + Duration::from_secs(SESSION_SECONDS as u64));
        Ok(Cached {
            credentials: aws_credential_types::Credentials::new(
                creds.access_key_id,
                creds.secret_access_key,
                Some(creds.session_token),
                Some(expires),
                "breakglass-assume-role",
            ),
            expires,
        })
    }

    /// Drops a target's cached sessions, e.g. after an error that may mean their
    /// credentials went bad, or once the grant they are named after has ended.
    pub async fn forget(&self, target: &Target) {
        self.sessions
            .forget(|k| k.session_name == target.session_name && k.role_arn == target.role_arn);
    }
}

#[cfg(test)]
mod tests {
    use super::session_name;

    fn valid(s: &str) -> bool {
        (2..=64).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    }

    #[test]
    fn session_names_are_valid_for_sts_and_name_the_grant() {
        let short = session_name("incidents", "inc-4211-alice");
        assert_eq!(short, "breakglass@incidents.inc-4211-alice");
        assert!(valid(&short));
        let long = session_name(&"n".repeat(63), &"g".repeat(253));
        assert!(valid(&long), "{long}");
        assert_eq!(long.len(), 64);
        assert_ne!(long, session_name(&"n".repeat(63), &"h".repeat(253)));
        assert_eq!(long, session_name(&"n".repeat(63), &"g".repeat(253)));
    }
}
