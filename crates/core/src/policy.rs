//! Pure evaluation of a grant against its policy: everything that can be decided without
//! AWS. A denial here means no AWS call and no pause.

use std::{fmt, time::Duration};

use crate::{
    BreakGlassGrantSpec, BreakGlassPolicySpec, DurationError, GoDuration, MAX_GRANT_DURATION,
    alertmanager::Matcher,
};

/// Why a grant was refused, phrased for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    PolicyNotFound {
        policy: String,
    },
    NamespaceNotAllowed {
        namespace: String,
        policy: String,
        allowed: Vec<String>,
    },
    UserNotEligible {
        user: String,
        policy: String,
    },
    DurationTooLong {
        requested: String,
        max: String,
        policy: String,
    },
    IncidentRequired {
        policy: String,
    },
    InvalidDuration(DurationError),
    /// `spec.accountIds` names accounts the policy does not assign on.
    AccountNotAllowed {
        accounts: Vec<String>,
        policy: String,
        allowed: Vec<String>,
    },
    /// `spec.accountIds` on a grant whose policy grants group membership.
    AccountsNotApplicable {
        policy: String,
    },
    /// No `spec.requestedBy`: nobody can say who asked.
    RequesterUnknown,
}

impl Denial {
    /// The condition reason (CamelCase) for this denial.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::PolicyNotFound { .. } => "PolicyNotFound",
            Self::NamespaceNotAllowed { .. } => "NamespaceNotAllowed",
            Self::UserNotEligible { .. } => "UserNotEligible",
            Self::DurationTooLong { .. } => "DurationTooLong",
            Self::IncidentRequired { .. } => "IncidentRequired",
            Self::InvalidDuration(_) => "InvalidDuration",
            Self::AccountNotAllowed { .. } => "AccountNotAllowed",
            Self::AccountsNotApplicable { .. } => "AccountsNotApplicable",
            Self::RequesterUnknown => "RequesterUnknown",
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PolicyNotFound { policy } => write!(
                f,
                "BreakGlassPolicy {policy:?} does not exist; check spec.policy (kubectl get bgp)"
            ),
            Self::NamespaceNotAllowed {
                namespace,
                policy,
                allowed,
            } => write!(
                f,
                "policy {policy:?} does not accept grants from namespace {namespace:?}; create the grant in one of: {}",
                allowed.join(", ")
            ),
            Self::UserNotEligible { user, policy } => write!(
                f,
                "user {user:?} is not eligible under policy {policy:?}: not in eligibleUsers and not a member of any eligibleGroups"
            ),
            Self::DurationTooLong {
                requested,
                max,
                policy,
            } => write!(
                f,
                "requested duration {requested} exceeds the maximum {max} of policy {policy:?}; ask for {max} or less"
            ),
            Self::IncidentRequired { policy } => write!(
                f,
                "policy {policy:?} requires an incident: set spec.incident.id"
            ),
            Self::InvalidDuration(err) => write!(f, "{err}"),
            Self::AccountNotAllowed {
                accounts,
                policy,
                allowed,
            } => write!(
                f,
                "policy {policy:?} does not assign on account(s) {}; spec.accountIds must be a subset of: {}",
                accounts.join(", "),
                allowed.join(", ")
            ),
            Self::AccountsNotApplicable { policy } => write!(
                f,
                "policy {policy:?} grants group membership, not account assignments: remove spec.accountIds"
            ),
            Self::RequesterUnknown => write!(
                f,
                "spec.requestedBy is missing, so nobody can tell who asked: create the grant again with spec.requestedBy set to your Kubernetes username (kubectl breakglass request fills it in)"
            ),
        }
    }
}

/// How the user's eligibility is established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// Named in `eligibleUsers`.
    Listed,
    /// Only membership of one of these Identity Store groups can make the user eligible.
    ByGroup(Vec<String>),
}

/// A grant that passed every check that needs no AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub duration: Duration,
    pub eligibility: Eligibility,
}

/// Checks a grant against its policy (pure). `namespace` is the grant's namespace.
pub fn evaluate(
    namespace: &str,
    grant: &BreakGlassGrantSpec,
    policy_name: &str,
    policy: &BreakGlassPolicySpec,
) -> Result<Accepted, Denial> {
    let policy_name = policy_name.to_owned();
    if grant
        .requested_by
        .as_deref()
        .is_none_or(|r| r.trim().is_empty())
    {
        return Err(Denial::RequesterUnknown);
    }
    if !policy.grant_namespaces.is_empty()
        && !policy.grant_namespaces.iter().any(|n| n == namespace)
    {
        return Err(Denial::NamespaceNotAllowed {
            namespace: namespace.to_owned(),
            policy: policy_name,
            allowed: policy.grant_namespaces.clone(),
        });
    }
    if policy.require_incident
        && grant
            .incident
            .as_ref()
            .is_none_or(|i| i.id.trim().is_empty())
    {
        return Err(Denial::IncidentRequired {
            policy: policy_name,
        });
    }
    let max = GoDuration::parse(&policy.duration.max).map_err(Denial::InvalidDuration)?;
    let requested = match &grant.duration {
        Some(d) => GoDuration::parse(d).map_err(Denial::InvalidDuration)?,
        None => GoDuration::parse(&policy.duration.default).map_err(Denial::InvalidDuration)?,
    };
    if requested > max {
        return Err(Denial::DurationTooLong {
            requested: requested.to_string(),
            max: max.to_string(),
            policy: policy_name,
        });
    }
    if let Some(asked) = &grant.account_ids {
        let Some(assignment) = &policy.access.account_assignment else {
            return Err(Denial::AccountsNotApplicable {
                policy: policy_name,
            });
        };
        let outside: Vec<String> = asked
            .iter()
            .filter(|a| !assignment.account_ids.contains(a))
            .cloned()
            .collect();
        if !outside.is_empty() {
            return Err(Denial::AccountNotAllowed {
                accounts: outside,
                policy: policy_name,
                allowed: assignment.account_ids.clone(),
            });
        }
    }
    let eligibility = if policy.eligible_users.iter().any(|u| u == &grant.user) {
        Eligibility::Listed
    } else if !policy.eligible_groups.is_empty() {
        Eligibility::ByGroup(policy.eligible_groups.clone())
    } else {
        return Err(Denial::UserNotEligible {
            user: grant.user.clone(),
            policy: policy_name,
        });
    };
    Ok(Accepted {
        duration: requested.as_std().min(MAX_GRANT_DURATION),
        eligibility,
    })
}

/// The accounts a grant is assigned on: its own `accountIds` (already checked to be a
/// subset), else all of the policy's; empty for group-membership policies.
pub fn accounts(grant: &BreakGlassGrantSpec, policy: &BreakGlassPolicySpec) -> Vec<String> {
    let Some(assignment) = &policy.access.account_assignment else {
        return vec![];
    };
    match &grant.account_ids {
        Some(asked) => asked
            .iter()
            .filter(|a| assignment.account_ids.contains(a))
            .cloned()
            .collect(),
        None => assignment.account_ids.clone(),
    }
}

/// The policy's current maximum, used to shorten active grants when it is lowered.
pub fn max_duration(policy: &BreakGlassPolicySpec) -> Option<Duration> {
    GoDuration::parse(&policy.duration.max)
        .ok()
        .map(GoDuration::as_std)
}

/// Why a policy cannot be used as written: what the API server's schema could not catch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// Condition reason (CamelCase).
    pub reason: &'static str,
    pub message: String,
}

/// Checks what only the operator can: alert matchers' regexes. `Ok` carries a one-line
/// summary for the Ready condition.
pub fn check(spec: &BreakGlassPolicySpec) -> Result<String, PolicyProblem> {
    for (i, rule) in spec.alerts.iter().enumerate() {
        for m in &rule.matchers {
            if let Err(e) = Matcher::parse(m) {
                return Err(PolicyProblem {
                    reason: "InvalidMatcher",
                    message: format!("alerts[{i}]: {e}"),
                });
            }
        }
    }
    let (default, max) = (&spec.duration.default, &spec.duration.max);
    Ok(format!(
        "accepted: grants last {default} by default, {max} at most; {} pause entries, {} alert rules",
        spec.pause.len(),
        spec.alerts.len()
    ))
}

#[cfg(test)]
mod check_tests {
    use super::*;

    fn policy(edit: impl FnOnce(&mut serde_yaml::Value)) -> BreakGlassPolicySpec {
        let mut doc: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../tests/fixtures/policy.yaml"))
                .expect("fixture");
        edit(&mut doc);
        serde_yaml::from_value(doc["spec"].clone()).expect("policy")
    }

    #[test]
    fn a_sound_policy_is_accepted_with_a_summary() {
        let summary = check(&policy(|_| {})).expect("accepted");
        assert!(summary.starts_with("accepted: grants last"), "{summary}");
    }

    #[test]
    fn a_bad_alert_regex_is_named() {
        let spec = policy(|d| {
            d["spec"]["alerts"] = serde_yaml::from_str(
                r#"[{matchers: ['alertname=~"(unclosed"'], userLabel: user, namespace: incidents}]"#,
            )
            .expect("alerts");
        });
        let problem = check(&spec).expect_err("refused");
        assert_eq!(problem.reason, "InvalidMatcher");
        assert!(problem.message.contains("alerts[0]"), "{}", problem.message);
    }

    fn assigning(d: &mut serde_yaml::Value) {
        d["spec"]["access"] = serde_yaml::from_str(
            "{accountAssignment: {accountIds: ['111122223333', '444455556666'], permissionSetName: BreakGlassAdmin}}",
        )
        .expect("access");
    }

    fn grant(accounts: Option<&[&str]>) -> BreakGlassGrantSpec {
        let mut g: BreakGlassGrantSpec = serde_yaml::from_str(
            "{policy: prod-admin, user: alice@example.com, requestedBy: alice@example.com, reason: outage, incident: {id: INC-1}}",
        )
        .expect("grant");
        g.account_ids = accounts.map(|a| a.iter().map(|s| s.to_string()).collect());
        g
    }

    #[test]
    fn account_assignment_policies_are_accepted() {
        assert!(check(&policy(assigning)).is_ok());
    }

    #[test]
    fn a_grant_assigns_on_the_policys_accounts_or_a_subset_of_them() {
        let spec = policy(assigning);
        let all = grant(None);
        assert!(evaluate("incidents", &all, "prod-admin", &spec).is_ok());
        assert_eq!(accounts(&all, &spec), ["111122223333", "444455556666"]);
        let narrowed = grant(Some(&["444455556666"]));
        assert!(evaluate("incidents", &narrowed, "prod-admin", &spec).is_ok());
        assert_eq!(accounts(&narrowed, &spec), ["444455556666"]);
    }

    #[test]
    fn accounts_outside_the_policy_are_denied_by_name() {
        let spec = policy(assigning);
        let denial = evaluate(
            "incidents",
            &grant(Some(&["111122223333", "999999999999"])),
            "prod-admin",
            &spec,
        )
        .expect_err("denied");
        assert_eq!(denial.reason(), "AccountNotAllowed");
        let msg = denial.to_string();
        assert!(
            msg.contains("999999999999") && !msg.contains("account(s) 111122223333"),
            "{msg}"
        );
    }

    #[test]
    fn accounts_on_a_group_membership_grant_are_denied() {
        let denial = evaluate(
            "incidents",
            &grant(Some(&["111122223333"])),
            "prod-admin",
            &policy(|_| {}),
        )
        .expect_err("denied");
        assert_eq!(denial.reason(), "AccountsNotApplicable");
    }
}
