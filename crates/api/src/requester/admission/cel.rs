//! The policy's CEL: variables and validations, as text the chart's template repeats
//! verbatim (tests/chart.rs holds them equal). Every caller-supplied value that reaches the
//! text has been checked (`super::check_*`): it cannot close a CEL string.
//!
//! On CREATE `oldObject` is null, so everything that reads it is behind `variables.creating`.

use k8s_openapi::api::admissionregistration::v1::{Validation, Variable};

use crate::requester::ON_BEHALF_VERB;
use crate::{GROUP, pause::RESTORE};

fn variable(name: &str, expression: impl Into<String>) -> Variable {
    Variable {
        name: name.to_owned(),
        expression: expression.into(),
    }
}

fn forbid(expression: impl Into<String>, message: impl Into<String>) -> Validation {
    Validation {
        expression: expression.into(),
        message_expression: Some(message.into()),
        reason: Some("Forbidden".into()),
        ..Validation::default()
    }
}

/// `breakglass.dev/` labels then annotations (less the restore annotation) of `obj`, as
/// `label k=v` / `annotation k=v` entries: equal lists (as sets) mean nothing of ours moved.
fn ours(obj: &str) -> String {
    let entries = |field: &str, kind: &str, except: &str| {
        format!(
            "(has({obj}.metadata.{field}) ? {obj}.metadata.{field}.filter(k, k.startsWith('{GROUP}/'){except}).map(k, '{kind} ' + k + '=' + {obj}.metadata.{field}[k]) : [])"
        )
    };
    format!(
        "{} + {}",
        entries("labels", "label", ""),
        entries(
            "annotations",
            "annotation",
            &format!(" && k != '{RESTORE}'")
        )
    )
}

/// The restore annotation's value on `obj` ('' when absent).
fn restore(obj: &str) -> String {
    format!(
        "has({obj}.metadata.annotations) && '{RESTORE}' in {obj}.metadata.annotations ? {obj}.metadata.annotations['{RESTORE}'] : ''"
    )
}

pub fn variables(prefix: &str, operators: &[String]) -> Vec<Variable> {
    let operators: Vec<String> = operators.iter().map(|u| format!("'{u}'")).collect();
    vec![
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
        // The operator's own identities (controller, webhook) write what drives it.
        variable(
            "operator",
            format!("variables.requester in [{}]", operators.join(", ")),
        ),
        variable("creating", "request.operation == 'CREATE'"),
        // Who may end a grant or release its hold: its user, its requester, a commander.
        variable(
            "mayEnd",
            "oldObject.spec.user == variables.self || (has(oldObject.spec.requestedBy) && oldObject.spec.requestedBy == variables.requester) || variables.onBehalf",
        ),
        variable(
            "whoMayEnd",
            format!(
                "'its user (' + oldObject.spec.user + ')' + (has(oldObject.spec.requestedBy) ? ', its requester (' + oldObject.spec.requestedBy + ')' : '') + ' or a holder of the RBAC verb {ON_BEHALF_VERB} on breakglasspolicies/' + oldObject.spec.policy"
            ),
        ),
        variable("restore", restore("object")),
        variable(
            "restoreBefore",
            format!("variables.creating ? '' : ({})", restore("oldObject")),
        ),
        variable("ours", ours("object")),
        variable(
            "oursBefore",
            format!("variables.creating ? [] : ({})", ours("oldObject")),
        ),
        variable(
            "forged",
            "variables.ours.filter(e, !(e in variables.oursBefore)) + variables.oursBefore.filter(e, !(e in variables.ours))",
        ),
    ]
}

pub fn validations() -> Vec<Validation> {
    vec![
        forbid(
            "!variables.creating || has(object.spec.requestedBy) && object.spec.requestedBy == variables.requester",
            "'spec.requestedBy must be your own Kubernetes username \"' + variables.requester + '\"' + (has(object.spec.requestedBy) ? ', not \"' + object.spec.requestedBy + '\"' : ' (it is missing)') + '; kubectl breakglass request fills it in'",
        ),
        forbid(
            "!variables.creating || object.spec.user == variables.self || variables.onBehalf",
            format!(
                "'you (' + variables.requester + ') may request break-glass access only for yourself, spec.user \"' + variables.self + '\"; asking for \"' + object.spec.user + '\" needs the RBAC verb {ON_BEHALF_VERB} on breakglasspolicies/' + object.spec.policy + ' (incident commanders)'"
            ),
        ),
        forbid(
            "variables.creating || variables.operator || object.spec.resolved == oldObject.spec.resolved || variables.mayEnd",
            "'spec.resolved: only ' + variables.whoMayEnd + ' may end this grant, not you (' + variables.requester + '); ask one of them'",
        ),
        forbid(
            "variables.creating || variables.operator || variables.restore == variables.restoreBefore || variables.mayEnd",
            format!(
                "'annotation {RESTORE}: only ' + variables.whoMayEnd + ' may release what this grant holds for review, not you (' + variables.requester + '); ask one of them'"
            ),
        ),
        forbid(
            "variables.operator || size(variables.forged) == 0",
            format!(
                "'labels and annotations under {GROUP}/ drive the operator and only it writes them ({RESTORE} excepted): you (' + variables.requester + ') may not add, change or remove ' + variables.forged.map(e, e.split('=')[0]).join(', ') + '; leave them out'"
            ),
        ),
    ]
}
