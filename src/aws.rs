//! AWS IAM Identity Center access: STS AssumeRole into a policy's role, then Identity Store
//! reads and membership changes. Every change is idempotent (find before create, confirm
//! after delete). Credentials stay in memory and are never logged.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime},
};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_identitystore::{
    Client as IdentityStore,
    error::ProvideErrorMetadata,
    types::{AlternateIdentifier, MemberId, UniqueAttribute},
};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{Intercept, SharedInterceptor, context::FinalizerInterceptorContextRef},
        orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::{Document, config_bag::ConfigBag, error::display::DisplayErrorContext};
use tokio::sync::Mutex;

use crate::telemetry::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("assuming role {role_arn} as {session_name}: {message}")]
    AssumeRole {
        role_arn: String,
        session_name: String,
        message: String,
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
    #[error("membership of user {user_id} in group {group_id} still exists after deleting it")]
    NotRemoved { user_id: String, group_id: String },
}

impl Error {
    /// Condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::AssumeRole { .. } => "AssumeRoleFailed",
            Self::UserNotFound { .. } => "UserNotFound",
            Self::GroupNotFound { .. } => "GroupNotFound",
            Self::Call { .. } | Self::NotRemoved { .. } => "AwsError",
        }
    }
}

/// Where and as whom to act: everything needed to assume the role and reach the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub region: Option<String>,
    pub identity_store_id: String,
    pub session_name: String,
}

struct CachedSession {
    client: IdentityStore,
    expires: SystemTime,
}

/// Shared AWS access for the controller: the base SDK config and the assumed-role sessions.
#[derive(Clone)]
pub struct Aws {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    sessions: Arc<Mutex<HashMap<Target, CachedSession>>>,
    interceptor: Option<SharedInterceptor>,
}

/// Records each call's outcome from its HTTP status: the SDK's operation errors are
/// type-erased at this point, and the status class is what an alert needs.
struct CallMetrics(Arc<Metrics>);

impl std::fmt::Debug for CallMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallMetrics")
    }
}

impl Intercept for CallMetrics {
    fn name(&self) -> &'static str {
        "breakglass-call-metrics"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let status = context.response().map(|r| r.status().as_u16());
        let outcome = match (context.output_or_error(), status) {
            (Some(Ok(_)), _) => "ok",
            (_, Some(429)) => "throttled",
            (_, Some(400..=499)) => "client_error",
            (_, Some(500..)) => "server_error",
            _ => "transport_error",
        };
        self.0
            .aws_call(&service.to_lowercase(), &operation, outcome);
        Ok(())
    }
}

/// Sessions are reused until this long before their credentials expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);
const SESSION_SECONDS: i32 = 900;

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

fn call_error<E: std::error::Error>(
    operation: &'static str,
    identity_store_id: &str,
    err: E,
) -> Error {
    Error::Call {
        operation,
        identity_store_id: identity_store_id.to_owned(),
        message: DisplayErrorContext(&err).to_string(),
    }
}

impl Aws {
    /// From the standard AWS environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials chain).
    pub async fn from_env() -> Self {
        Self::new(aws_config::defaults(BehaviorVersion::latest()).load().await)
    }

    pub fn new(base: SdkConfig) -> Self {
        let sts = aws_sdk_sts::Client::new(&base);
        Self {
            base,
            sts,
            sessions: Arc::default(),
            interceptor: None,
        }
    }

    /// Counts every AWS call (STS and Identity Store) by operation and outcome.
    pub fn with_metrics(self, metrics: Arc<Metrics>) -> Self {
        let interceptor = SharedInterceptor::new(CallMetrics(metrics));
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

    /// An Identity Store client acting as the target's role, assumed once and cached.
    pub async fn store(&self, target: &Target) -> Result<IdentityStore, Error> {
        let mut sessions = self.sessions.lock().await;
        if let Some(cached) = sessions.get(target)
            && cached.expires > SystemTime::now() + REFRESH_MARGIN
        {
            return Ok(cached.client.clone());
        }
        let assume_error = |message: String| Error::AssumeRole {
            role_arn: target.role_arn.clone(),
            session_name: target.session_name.clone(),
            message,
        };
        let out = self
            .sts
            .assume_role()
            .role_arn(&target.role_arn)
            .role_session_name(&target.session_name)
            .set_external_id(target.external_id.clone())
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| assume_error(DisplayErrorContext(&e).to_string()))?;
        let creds = out
            .credentials
            .ok_or_else(|| assume_error("STS returned no credentials".into()))?;
        let expires = SystemTime::try_from(creds.expiration)
            .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(SESSION_SECONDS as u64));
        let credentials = aws_credential_types::Credentials::new(
            creds.access_key_id,
            creds.secret_access_key,
            Some(creds.session_token),
            Some(expires),
            "breakglass-assume-role",
        );
        let mut config = aws_sdk_identitystore::config::Builder::from(&self.base)
            .credentials_provider(credentials);
        if let Some(interceptor) = &self.interceptor {
            config = config.interceptor(interceptor.clone());
        }
        if let Some(region) = &target.region {
            config = config.region(aws_config::Region::new(region.clone()));
        }
        let client = IdentityStore::from_conf(config.build());
        sessions.insert(
            target.clone(),
            CachedSession {
                client: client.clone(),
                expires,
            },
        );
        Ok(client)
    }

    /// Drops a cached session, e.g. after an error that may mean its credentials went bad.
    pub async fn forget(&self, target: &Target) {
        self.sessions.lock().await.remove(target);
    }
}

fn unique(path: &str, value: &str) -> Result<AlternateIdentifier, String> {
    UniqueAttribute::builder()
        .attribute_path(path)
        .attribute_value(Document::String(value.to_owned()))
        .build()
        .map(AlternateIdentifier::UniqueAttribute)
        .map_err(|e| e.to_string())
}

/// The AWS error code of a failed call (`ResourceNotFoundException`, `ConflictException`, …).
fn code<E: ProvideErrorMetadata>(err: &aws_sdk_identitystore::error::SdkError<E>) -> Option<&str> {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}

fn is_not_found<E: ProvideErrorMetadata>(err: &aws_sdk_identitystore::error::SdkError<E>) -> bool {
    code(err) == Some("ResourceNotFoundException")
}

/// Identity Store operations on one store, as one assumed role.
pub struct Store<'a> {
    pub client: &'a IdentityStore,
    pub identity_store_id: &'a str,
}

impl Store<'_> {
    pub async fn user_id(&self, user_name: &str) -> Result<String, Error> {
        let id = self.identity_store_id;
        let ident = unique("userName", user_name).map_err(|m| Error::Call {
            operation: "GetUserId",
            identity_store_id: id.to_owned(),
            message: m,
        })?;
        match self
            .client
            .get_user_id()
            .identity_store_id(id)
            .alternate_identifier(ident)
            .send()
            .await
        {
            Ok(out) => Ok(out.user_id),
            Err(e) if is_not_found(&e) => Err(Error::UserNotFound {
                identity_store_id: id.to_owned(),
                user: user_name.to_owned(),
            }),
            Err(e) => Err(call_error("GetUserId", id, e)),
        }
    }

    pub async fn group_id(&self, display_name: &str) -> Result<String, Error> {
        let id = self.identity_store_id;
        let ident = unique("displayName", display_name).map_err(|m| Error::Call {
            operation: "GetGroupId",
            identity_store_id: id.to_owned(),
            message: m,
        })?;
        match self
            .client
            .get_group_id()
            .identity_store_id(id)
            .alternate_identifier(ident)
            .send()
            .await
        {
            Ok(out) => Ok(out.group_id),
            Err(e) if is_not_found(&e) => Err(Error::GroupNotFound {
                identity_store_id: id.to_owned(),
                group: display_name.to_owned(),
            }),
            Err(e) => Err(call_error("GetGroupId", id, e)),
        }
    }

    pub async fn membership_id(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, Error> {
        let id = self.identity_store_id;
        match self
            .client
            .get_group_membership_id()
            .identity_store_id(id)
            .group_id(group_id)
            .member_id(MemberId::UserId(user_id.to_owned()))
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.membership_id)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(call_error("GetGroupMembershipId", id, e)),
        }
    }

    /// Finds or creates the membership; an existing one counts as done.
    pub async fn ensure_membership(&self, group_id: &str, user_id: &str) -> Result<String, Error> {
        if let Some(existing) = self.membership_id(group_id, user_id).await? {
            return Ok(existing);
        }
        let id = self.identity_store_id;
        match self
            .client
            .create_group_membership()
            .identity_store_id(id)
            .group_id(group_id)
            .member_id(MemberId::UserId(user_id.to_owned()))
            .send()
            .await
        {
            Ok(out) => Ok(out.membership_id),
            // Someone else created it meanwhile (AWS answers ConflictException).
            Err(e) if code(&e) == Some("ConflictException") => self
                .membership_id(group_id, user_id)
                .await?
                .ok_or_else(|| call_error("CreateGroupMembership", id, e)),
            Err(e) => Err(call_error("CreateGroupMembership", id, e)),
        }
    }

    /// Removes the membership and confirms it is gone. `recorded`: the membership id the
    /// grant recorded, deleted without a lookup first; should the user hold the group through
    /// another membership (re-added by hand), the confirmation finds it and it goes too.
    pub async fn remove_membership(
        &self,
        group_id: &str,
        user_id: &str,
        recorded: Option<&str>,
    ) -> Result<(), Error> {
        let mut next = match recorded {
            Some(id) => Some(id.to_owned()),
            None => self.membership_id(group_id, user_id).await?,
        };
        // Two rounds: the recorded id, then whatever the confirmation still finds.
        for _ in 0..2 {
            let Some(membership) = next else {
                return Ok(());
            };
            self.delete_membership(&membership).await?;
            next = self.membership_id(group_id, user_id).await?;
        }
        match next {
            None => Ok(()),
            Some(_) => Err(Error::NotRemoved {
                user_id: user_id.to_owned(),
                group_id: group_id.to_owned(),
            }),
        }
    }

    /// Deletes one membership; one already gone counts as deleted.
    async fn delete_membership(&self, membership_id: &str) -> Result<(), Error> {
        let id = self.identity_store_id;
        match self
            .client
            .delete_group_membership()
            .identity_store_id(id)
            .membership_id(membership_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(call_error("DeleteGroupMembership", id, e)),
        }
    }

    /// Whether the user is a member of any of the named groups (for eligibility).
    pub async fn member_of_any(
        &self,
        user_id: &str,
        group_names: &[String],
    ) -> Result<bool, Error> {
        for name in group_names {
            let group_id = match self.group_id(name).await {
                Ok(g) => g,
                Err(Error::GroupNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if self.membership_id(&group_id, user_id).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
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
