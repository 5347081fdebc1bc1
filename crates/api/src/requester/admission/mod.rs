//! The ValidatingAdmissionPolicy (and its binding) that checks who asks for a grant and who
//! may change it, built as typed objects: the chart ships the same policy, and `breakglass
//! admission-policy` prints it for installs without Helm. The API server enforces it on
//! CREATE and UPDATE of grants (not their status, which only the operator writes):
//! - CREATE: `spec.requestedBy` must be the creating user's Kubernetes username, and
//!   `spec.user` that user (username less a configurable prefix) unless RBAC allows the
//!   requester the verb `request-on-behalf` on the grant's policy;
//! - UPDATE: changing `spec.resolved` or the `breakglass.dev/restore` annotation is for the
//!   grant's user, its requester or a holder of `request-on-behalf` only;
//! - both: `breakglass.dev/*` labels and annotations (restore excepted) are written only by
//!   the operator's own identities, which the UPDATE rules above do not apply to.
//!
//! `reason` and `incident` are immutable for everyone by CRD rules (they need no identity).

mod cel;

use k8s_openapi::{
    api::admissionregistration::v1::{
        MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
        ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
        ValidatingAdmissionPolicySpec,
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};

use crate::GROUP;

/// Default name of the policy and its binding.
pub const NAME: &str = "breakglass-requester";

/// What may appear in a value that goes into a CEL string literal.
const CEL_SAFE: &str = ":_.@-";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "username prefix {0:?}: only letters, digits and {CEL_SAFE} are allowed (it goes into a CEL string)"
    )]
    BadPrefix(String),
    #[error(
        "operator username {0:?}: must be non-empty, only letters, digits and {CEL_SAFE} (it goes into a CEL string)"
    )]
    BadOperator(String),
    #[error("printing the admission policy: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Name of the policy and of its binding.
    pub name: String,
    /// Dropped from the username before comparing with `spec.user`, e.g. `oidc:`.
    pub username_prefix: String,
    /// The operator's own Kubernetes usernames (controller, webhook), e.g.
    /// `system:serviceaccount:breakglass:breakglass-operator`: they write the
    /// `breakglass.dev/*` labels and annotations and may resolve any grant.
    pub operator_usernames: Vec<String>,
    /// Only grants in namespaces with these labels (all namespaces when `None`).
    pub namespace_selector: Option<LabelSelector>,
}

fn cel_safe(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || CEL_SAFE.contains(c))
}

fn check(o: &Options) -> Result<(), Error> {
    if !cel_safe(&o.username_prefix) {
        return Err(Error::BadPrefix(o.username_prefix.clone()));
    }
    match o
        .operator_usernames
        .iter()
        .find(|u| u.is_empty() || !cel_safe(u))
    {
        Some(bad) => Err(Error::BadOperator(bad.clone())),
        None => Ok(()),
    }
}

/// The policy.
pub fn policy(o: &Options) -> Result<ValidatingAdmissionPolicy, Error> {
    check(o)?;
    Ok(ValidatingAdmissionPolicy {
        metadata: ObjectMeta {
            name: Some(o.name.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".into()),
            match_constraints: Some(MatchResources {
                resource_rules: Some(vec![NamedRuleWithOperations {
                    api_groups: Some(vec![GROUP.into()]),
                    api_versions: Some(vec!["*".into()]),
                    operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
                    resources: Some(vec!["breakglassgrants".into()]),
                    ..NamedRuleWithOperations::default()
                }]),
                ..MatchResources::default()
            }),
            variables: Some(cel::variables(&o.username_prefix, &o.operator_usernames)),
            validations: Some(cel::validations()),
            ..ValidatingAdmissionPolicySpec::default()
        }),
        status: None,
    })
}

/// The binding that puts the policy in force (`Deny`).
pub fn binding(o: &Options) -> ValidatingAdmissionPolicyBinding {
    ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            name: Some(o.name.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(o.name.clone()),
            validation_actions: Some(vec!["Deny".into()]),
            match_resources: o.namespace_selector.clone().map(|s| MatchResources {
                namespace_selector: Some(s),
                ..MatchResources::default()
            }),
            ..ValidatingAdmissionPolicyBindingSpec::default()
        }),
    }
}

/// Both, as a multi-document YAML stream (what `breakglass admission-policy` prints).
pub fn yaml(o: &Options) -> Result<String, Error> {
    let mut out = String::new();
    out.push_str("---\n");
    out.push_str(&serde_yaml::to_string(&policy(o)?)?);
    out.push_str("---\n");
    out.push_str(&serde_yaml::to_string(&binding(o))?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_goes_into_cel_only_when_safe() {
        let o = |p: &str| Options {
            name: NAME.into(),
            username_prefix: p.into(),
            ..Options::default()
        };
        assert!(policy(&o("oidc:")).is_ok());
        assert!(policy(&o("")).is_ok());
        assert!(matches!(
            policy(&o("x' || true || '")),
            Err(Error::BadPrefix(_))
        ));
        let text = yaml(&o("oidc:")).expect("yaml");
        assert!(text.contains("kind: ValidatingAdmissionPolicy\n"), "{text}");
        assert!(
            text.contains("kind: ValidatingAdmissionPolicyBinding\n"),
            "{text}"
        );
        assert!(text.contains("substring(5)"), "{text}");
    }

    #[test]
    fn operator_usernames_go_into_cel_only_when_safe() {
        let o = |users: &[&str]| Options {
            name: NAME.into(),
            operator_usernames: users.iter().map(|u| u.to_string()).collect(),
            ..Options::default()
        };
        let sa = "system:serviceaccount:breakglass:breakglass-operator";
        let built = policy(&o(&[sa, "webhook@example.com"])).expect("policy");
        let vars = built.spec.and_then(|s| s.variables).expect("variables");
        let operator = vars
            .iter()
            .find(|v| v.name == "operator")
            .expect("operator");
        assert_eq!(
            operator.expression,
            format!("variables.requester in ['{sa}', 'webhook@example.com']")
        );
        assert!(policy(&o(&[])).is_ok(), "no operator identity at all");
        for bad in ["", "x'] || true || ['", "a b", "a\\'"] {
            assert!(
                matches!(policy(&o(&[sa, bad])), Err(Error::BadOperator(b)) if b == bad),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn it_checks_create_and_update_but_not_status() {
        let built = policy(&Options::default()).expect("policy");
        let rules = built
            .spec
            .and_then(|s| s.match_constraints)
            .and_then(|m| m.resource_rules)
            .expect("rules");
        assert_eq!(rules.len(), 1);
        assert_eq!(
            rules[0].operations.as_deref(),
            Some(&["CREATE".to_owned(), "UPDATE".to_owned()][..])
        );
        assert_eq!(
            rules[0].resources.as_deref(),
            Some(&["breakglassgrants".to_owned()][..])
        );
    }
}
