//! The ValidatingAdmissionPolicy (and its binding) that checks who asks for a grant, built
//! as typed objects: the chart ships the same policy, and `breakglass admission-policy`
//! prints it for installs without Helm. The API server enforces it on CREATE:
//! - `spec.requestedBy` must be the creating user's Kubernetes username;
//! - `spec.user` must be that user (username less a configurable prefix), unless RBAC
//!   allows the requester the verb `request-on-behalf` on the grant's policy.

use k8s_openapi::{
    api::admissionregistration::v1::{
        MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
        ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
        ValidatingAdmissionPolicySpec, Validation, Variable,
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};

use super::ON_BEHALF_VERB;
use crate::GROUP;

/// Default name of the policy and its binding.
pub const NAME: &str = "breakglass-requester";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "username prefix {0:?}: only letters, digits and :_.@- are allowed (it goes into a CEL string)"
    )]
    BadPrefix(String),
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
    /// Only grants in namespaces with these labels (all namespaces when `None`).
    pub namespace_selector: Option<LabelSelector>,
}

fn check_prefix(prefix: &str) -> Result<(), Error> {
    let ok = prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ":_.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadPrefix(prefix.to_owned()))
    }
}

fn variable(name: &str, expression: impl Into<String>) -> Variable {
    Variable {
        name: name.to_owned(),
        expression: expression.into(),
    }
}

/// The policy.
pub fn policy(o: &Options) -> Result<ValidatingAdmissionPolicy, Error> {
    check_prefix(&o.username_prefix)?;
    let prefix = &o.username_prefix;
    let variables = vec![
        variable("requester", "request.userInfo.username"),
        variable(
            "self",
            format!(
                "variables.requester.startsWith('{prefix}') ? variables.requester.substring({}) : variables.requester",
                prefix.len()
            ),
        ),
        variable(
            "onBehalf",
            format!(
                "authorizer.group('{GROUP}').resource('breakglasspolicies').name(object.spec.policy).check('{ON_BEHALF_VERB}').allowed()"
            ),
        ),
    ];
    let validations = vec![
        Validation {
            expression: "has(object.spec.requestedBy) && object.spec.requestedBy == variables.requester".into(),
            message_expression: Some(
                "'spec.requestedBy must be your own Kubernetes username \"' + variables.requester + '\"' + (has(object.spec.requestedBy) ? ', not \"' + object.spec.requestedBy + '\"' : ' (it is missing)') + '; kubectl breakglass request fills it in'".into(),
            ),
            reason: Some("Forbidden".into()),
            ..Validation::default()
        },
        Validation {
            expression: "object.spec.user == variables.self || variables.onBehalf".into(),
            message_expression: Some(format!(
                "'you (' + variables.requester + ') may request break-glass access only for yourself, spec.user \"' + variables.self + '\"; asking for \"' + object.spec.user + '\" needs the RBAC verb {ON_BEHALF_VERB} on breakglasspolicies/' + object.spec.policy + ' (incident commanders)'"
            )),
            reason: Some("Forbidden".into()),
            ..Validation::default()
        },
    ];
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
                    operations: Some(vec!["CREATE".into()]),
                    resources: Some(vec!["breakglassgrants".into()]),
                    ..NamedRuleWithOperations::default()
                }]),
                ..MatchResources::default()
            }),
            variables: Some(variables),
            validations: Some(validations),
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
            namespace_selector: None,
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
}
