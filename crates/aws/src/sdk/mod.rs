//! The SDK implementation: STS AssumeRole into a policy's roles, then Identity Store
//! (`store`) and SSO Admin (`sso`, `guard`) calls behind the trait (`center`), every call
//! paced by one client-side rate limit (`Limiter`) and counted through a `CallObserver`
//! (`calls`). Credentials stay in memory and are never logged.
//!
//! Only credentials are cached (a few hundred bytes each, at most `MAX_SESSIONS`); a client
//! is built around them per call.

mod calls;
mod center;
mod guard;
mod sessions;
mod sso;
mod store;

pub use self::calls::{CallObserver, CallOutcome};
use self::sessions::{Cached, SessionKey, Sessions};

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_smithy_runtime_api::client::{interceptors::SharedInterceptor, result::SdkError};

use crate::{ActAs, Actor, Cause, Error, Limiter, Role};

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

fn session_key(target: &ActAs, role: Role) -> SessionKey {
    let (role_arn, session_name) = target.session(role);
    SessionKey {
        role_arn: role_arn.to_owned(),
        external_id: target.external_id.clone(),
        session_name: session_name.to_owned(),
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

/// A failed Identity Store or SSO Admin call, its SDK error kept as the source (as the
/// service's error, `S`): `Timeout` when it got no answer in time.
fn call_failed<E, R, S>(
    operation: &'static str,
    identity_store_id: &str,
    err: SdkError<E, R>,
) -> Error
where
    S: From<SdkError<E, R>>,
    Cause: From<S>,
{
    let timeout = timed_out(&err);
    let source = Cause::from(S::from(err));
    let identity_store_id = identity_store_id.to_owned();
    if timeout {
        Error::Timeout {
            operation,
            identity_store_id,
            source,
        }
    } else {
        Error::Call {
            operation,
            identity_store_id,
            source,
        }
    }
}

/// One hour: the longest any role allows by default, so a grant's revocation usually
/// reuses the session that granted it.
const SESSION_SECONDS: i32 = 3600;

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

    /// Reports every AWS call (STS, Identity Store, SSO Admin) by operation and outcome.
    pub fn with_observer(self, observer: Arc<dyn CallObserver>) -> Self {
        let interceptor = SharedInterceptor::new(calls::Observed(observer));
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

    /// An SSO Admin client acting as the actor's session.
    async fn sso(&self, actor: Actor<'_>) -> Result<aws_sdk_ssoadmin::Client, Error> {
        let credentials = self
            .credentials(&session_key(actor.target, actor.role))
            .await?;
        let mut config =
            aws_sdk_ssoadmin::config::Builder::from(&self.base).credentials_provider(credentials);
        if let Some(interceptor) = &self.interceptor {
            config = config.interceptor(interceptor.clone());
        }
        if let Some(region) = &actor.target.region {
            config = config.region(aws_config::Region::new(region.clone()));
        }
        Ok(aws_sdk_ssoadmin::Client::from_conf(config.build()))
    }

    /// An Identity Store client acting as the actor's session.
    async fn store(&self, actor: Actor<'_>) -> Result<aws_sdk_identitystore::Client, Error> {
        let credentials = self
            .credentials(&session_key(actor.target, actor.role))
            .await?;
        let mut config = aws_sdk_identitystore::config::Builder::from(&self.base)
            .credentials_provider(credentials);
        if let Some(interceptor) = &self.interceptor {
            config = config.interceptor(interceptor.clone());
        }
        if let Some(region) = &actor.target.region {
            config = config.region(aws_config::Region::new(region.clone()));
        }
        Ok(aws_sdk_identitystore::Client::from_conf(config.build()))
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
            .map_err(|e| Error::AssumeRole {
                role_arn: key.role_arn.clone(),
                session_name: key.session_name.clone(),
                timed_out: timed_out(&e),
                source: aws_sdk_sts::Error::from(e).into(),
            })?;
        let creds = out.credentials.ok_or_else(|| Error::NoCredentials {
            role_arn: key.role_arn.clone(),
            session_name: key.session_name.clone(),
        })?;
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
}

#[cfg(test)]
mod tests;
