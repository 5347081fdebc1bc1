//! AWS IAM Identity Center behind one trait, [`IdentityCenter`]: the calls the operator
//! makes on the Identity Store (users, groups, memberships) and SSO Admin (instances,
//! permission sets, account assignments), each as a target's read or change role.
//!
//! Two implementations: [`Aws`], the SDK (STS AssumeRole sessions, one client-side rate
//! limit, calls counted through a [`CallObserver`]), and [`Memory`], in memory with the
//! semantics tests rely on (asynchronous assignments, throttling, conflicts, refusals and
//! stalls on demand, a log of the calls made). Callers use the [`Store`] and [`Sso`]
//! handles, which add the idempotent steps (ensure, remove, eligibility) on top of either.
//!
//! The session guard's calls are SSO Admin's too: a permission set's session duration and
//! inline policy, provisioning it to its accounts, and the permission sets a group holds.
//!
//! Sessions: look-ups and sweeps act as the policy's read role (`readRoleArn`, else
//! `roleArn`) in one shared session per role; changes act as `roleArn` in a session named
//! after the grant they are for, so CloudTrail tells which grant made each change.

mod center;
mod error;
mod limit;
pub mod memory;
mod sdk;

pub use self::{
    center::{Actor, Call, IdentityCenter, Sso, Store},
    error::{Cause, Error},
    limit::{
        Api, Budgets, CALLER, MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_BUDGET, Rates, Turn, account_of,
    },
    memory::Memory,
    sdk::{Aws, CallObserver, CallOutcome, call_deadline, timeouts},
};

/// Where and as whom to act: everything needed to assume the roles and reach the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActAs {
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

impl ActAs {
    /// The role and session name a call as `role` acts as.
    pub fn session(&self, role: Role) -> (&str, &str) {
        match role {
            Role::Read => (
                self.read_role_arn.as_deref().unwrap_or(&self.role_arn),
                READ_SESSION,
            ),
            Role::Write => (&self.role_arn, &self.session_name),
        }
    }
}

/// Which of a target's roles to act as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Read,
    Write,
}

/// Where an assignment lives: instance, account and permission set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Assignment {
    pub instance_arn: String,
    pub account_id: String,
    pub permission_set_arn: String,
}

/// Where an asynchronous create or delete stands (core's, which the state machine reads).
pub use breakglass_core::assignments::Progress;

/// A permission set's session duration when it sets none (AWS's default).
pub const DEFAULT_SESSION_DURATION: std::time::Duration = std::time::Duration::from_secs(3600);

/// Session name of the shared read sessions.
pub const READ_SESSION: &str = "breakglass-read";

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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn reads_share_one_session_and_changes_name_the_grant() {
        let mut t = ActAs {
            role_arn: "arn:write".into(),
            read_role_arn: None,
            external_id: None,
            region: None,
            identity_store_id: "d-1".into(),
            session_name: "breakglass@ns.g".into(),
        };
        assert_eq!(t.session(Role::Read), ("arn:write", READ_SESSION));
        assert_eq!(t.session(Role::Write), ("arn:write", "breakglass@ns.g"));
        t.read_role_arn = Some("arn:read".into());
        assert_eq!(t.session(Role::Read), ("arn:read", READ_SESSION));
    }
}
