//! The SDK implementation: STS AssumeRole into a policy's roles, then Identity Store
//! (`store`) and SSO Admin (`sso`, `guard`) calls behind the trait (`center`), every call
//! paced by its account's budget for its API (`Budgets`, fed back what AWS answered:
//! `budget`) and counted through a `CallObserver` (`calls`). Credentials stay in memory and are never logged.
//!
//! Only credentials are cached (a few hundred bytes each, at most `MAX_SESSIONS`); a client
//! is built around them per call.

mod budget;
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

use self::budget::{Feedback, Paced};
use crate::{ActAs, Actor, Api, Budgets, CALLER, Cause, Error, Rates, Role};

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
    observer: Option<Arc<dyn CallObserver>>,
    budgets: Arc<Budgets>,
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
            observer: None,
            budgets: Arc::new(Budgets::new(Rates::default())),
        }
    }

    /// Paces every AWS call by its account's budget for its API at `rates`.
    pub fn with_rates(self, rates: Rates) -> Self {
        let budgets = Budgets::new(rates);
        if let Some(observer) = &self.observer {
            budgets.observe(observer.clone());
        }
        Self {
            budgets: Arc::new(budgets),
            ..self
        }
    }

    /// The budgets calls spend (their rates now).
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// The budget of the actor's calls of `api`.
    fn paced(&self, api: Api, actor: Actor<'_>) -> Paced<'_> {
        Paced {
            budgets: &self.budgets,
            api,
            account: crate::limit::account(api, actor),
        }
    }

    fn feedback(&self, api: Api, actor: Actor<'_>) -> SharedInterceptor {
        SharedInterceptor::new(Feedback {
            budgets: self.budgets.clone(),
            api,
            account: crate::limit::account(api, actor),
        })
    }

    /// Reports every AWS call (STS, Identity Store, SSO Admin) by operation and outcome.
    pub fn with_observer(self, observer: Arc<dyn CallObserver>) -> Self {
        self.budgets.observe(observer.clone());
        let interceptor = SharedInterceptor::new(calls::Observed(observer.clone()));
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.base)
                .interceptor(interceptor.clone())
                .build(),
        );
        Self {
            sts,
            interceptor: Some(interceptor),
            observer: Some(observer),
            ..self
        }
    }

    /// An SSO Admin client acting as the actor's session.
    async fn sso(&self, actor: Actor<'_>) -> Result<aws_sdk_ssoadmin::Client, Error> {
        let credentials = self
            .credentials(&session_key(actor.target, actor.role))
            .await?;
        let mut config = aws_sdk_ssoadmin::config::Builder::from(&self.base)
            .credentials_provider(credentials)
            .interceptor(self.feedback(Api::SsoAdmin, actor));
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
            .credentials_provider(credentials)
            .interceptor(self.feedback(Api::IdentityStore, actor));
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
        let _turn = self.budgets.wait(Api::Sts, CALLER).await;
        let out = self
            .sts
            .assume_role()
            .role_arn(&key.role_arn)
            .role_session_name(&key.session_name)
            .set_external_id(key.external_id.clone())
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await;
        // The final answer only: STS's client is shared, so no per-budget interceptor.
        if let Err(e) = &out
            && let Some(status) = e.raw_response().map(|r| r.status().as_u16())
        {
            let code = e.as_service_error().and_then(|e| e.meta().code());
            let throttled = status == 429 || code.is_some_and(crate::error::is_throttling_code);
            self.budgets.answered(Api::Sts, CALLER, throttled);
        } else if out.is_ok() {
            self.budgets.answered(Api::Sts, CALLER, false);
        }
        let out = out.map_err(|e| Error::AssumeRole {
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
