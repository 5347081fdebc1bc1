//! CEL rules, written into the schema as `x-kubernetes-validations`. They run in the API
//! server, so an object the operator receives has already passed them; the operator
//! re-checks what needs the policy.

use serde::Serialize;

/// One `x-kubernetes-validations` entry, serialized as the API server reads it.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub rule: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

impl Rule {
    pub fn new(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            message: message.into(),
            field_path: None,
        }
    }

    /// The field the API server names when the rule fails (relative JSON path).
    pub fn field_path(mut self, path: impl Into<String>) -> Self {
        self.field_path = Some(path.into());
        self
    }
}

/// RE2 for a Go duration string; CEL raw string (`r'…'`) so backslashes need no escaping.
const GO_DURATION_RE: &str = r"^([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h)(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h))*$";

/// A CEL expression that is true when `expr` is a well-formed Go duration string.
fn is_go_duration(expr: &str) -> String {
    format!("{expr}.matches(r'{GO_DURATION_RE}')")
}

/// A positive Go duration string (`duration()` would fail on anything else).
pub(crate) fn positive_go_duration() -> Rule {
    Rule::new(
        format!(
            "{} && duration(self) > duration('0s')",
            is_go_duration("self")
        ),
        "must be a positive Go duration such as 30m, 2h or 1h30m",
    )
}

/// No grant may last longer than a day, whatever the policy says.
pub(crate) fn at_most_a_day() -> Rule {
    Rule::new(
        format!(
            "!{} || duration(self) <= duration('24h')",
            is_go_duration("self")
        ),
        "must not exceed 24h",
    )
}

/// `max` ≥ `default` for a policy's `duration` block (skipped while either is malformed,
/// since the field rules already report that).
pub(crate) fn max_not_below_default() -> Rule {
    Rule::new(
        format!(
            "!{} || !{} || duration(self.max) >= duration(self.default)",
            is_go_duration("self.default"),
            is_go_duration("self.max"),
        ),
        "max must not be below default",
    )
    .field_path(".max")
}

/// An Alertmanager label matcher (`name="value"`, `name=~"re"`, `name!=v`, `name!~"re"`).
/// Whether a `=~` value is a valid regular expression can only be checked by the operator.
pub(crate) fn alertmanager_matchers() -> Rule {
    Rule::new(
        r#"self.all(m, m.matches(r'^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*("(\\.|[^"\\])*"|[^"{},=~!\s][^"{},]*|)\s*$'))"#,
        r#"each matcher must be Alertmanager syntax: label="value", label!="value", label=~"regex" or label!~"regex""#,
    )
}

/// A field that must keep the value it was created with.
pub(crate) fn immutable(field: &str) -> Rule {
    Rule::new("self == oldSelf", format!("{field} is immutable"))
}

/// A string with at least one non-space character.
pub(crate) fn not_blank(field: &str) -> Rule {
    Rule::new(r"self.matches(r'\S')", format!("{field} must not be empty"))
}

/// Exactly one of two optional fields is set.
pub(crate) fn exactly_one_of(a: &str, b: &str, message: &str) -> Rule {
    Rule::new(format!("has(self.{a}) != has(self.{b})"), message)
}

/// A pause entry names its objects, selects them by label, or both.
pub(crate) fn names_or_selector() -> Rule {
    Rule::new(
        "(has(self.names) && size(self.names) > 0) || has(self.selector)",
        "set names, selector, or both",
    )
}
