//! What the written statements mean to AWS, for one user's session at one moment: pins the
//! JSON the operator writes to the access it is meant to cut.
//!
//! This is not IAM's evaluator. It knows the statement shape the guard writes: `Effect`,
//! `Action` and `Resource` of `"*"` (or arrays holding `"*"`), and conditions with the
//! operators `StringEquals`, `DateGreaterThan`, `DateLessThan` over the keys
//! `identitystore:userId`, `aws:CurrentTime`, `aws:TokenIssueTime`. A statement with any
//! other operator, key or element (`NotAction`, `Principal`, ...) is taken not to apply.

use jiff::Timestamp;
use serde_json::{Map, Value};

/// The outcome for a session; the permission set's other policies are assumed to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allow,
    Deny,
}

/// Whether `statements` deny everything to the session of `user_id` whose token was issued
/// at `token_issued_at`, at `now`.
pub fn evaluate(
    statements: &[Value],
    user_id: &str,
    token_issued_at: Timestamp,
    now: Timestamp,
) -> Access {
    let request = Request {
        user_id,
        token_issued_at,
        now,
    };
    if statements.iter().any(|s| request.denied_by(s)) {
        Access::Deny
    } else {
        Access::Allow
    }
}

/// What a condition can be asked of.
struct Request<'a> {
    user_id: &'a str,
    token_issued_at: Timestamp,
    now: Timestamp,
}

/// A condition key's value in the request.
enum Known<'a> {
    Text(&'a str),
    Time(Timestamp),
}

impl Request<'_> {
    fn denied_by(&self, statement: &Value) -> bool {
        let Some(s) = statement.as_object() else {
            return false;
        };
        let known = |k: &String| {
            matches!(
                k.as_str(),
                "Sid" | "Effect" | "Action" | "Resource" | "Condition"
            )
        };
        s.keys().all(known)
            && s.get("Effect").and_then(Value::as_str) == Some("Deny")
            && s.get("Action").is_some_and(everything)
            && s.get("Resource").is_some_and(everything)
            && match s.get("Condition") {
                None => true,
                Some(Value::Object(c)) => self.all_hold(c),
                Some(_) => false,
            }
    }

    /// Every operator's every key holds (IAM ANDs them).
    fn all_hold(&self, condition: &Map<String, Value>) -> bool {
        condition.iter().all(|(op, keys)| {
            keys.as_object()
                .is_some_and(|keys| keys.iter().all(|(key, values)| self.holds(op, key, values)))
        })
    }

    /// One operator on one key: any of the values matches (IAM ORs them).
    fn holds(&self, op: &str, key: &str, values: &Value) -> bool {
        let values: Vec<&str> = match values {
            Value::String(v) => vec![v],
            Value::Array(all) => match all.iter().map(Value::as_str).collect() {
                Some(all) => all,
                None => return false,
            },
            _ => return false,
        };
        let Some(actual) = self.key(key) else {
            return false;
        };
        values.into_iter().any(|v| match (op, &actual) {
            ("StringEquals", Known::Text(actual)) => v == *actual,
            ("DateGreaterThan", Known::Time(actual)) => {
                v.parse::<Timestamp>().is_ok_and(|v| *actual > v)
            }
            ("DateLessThan", Known::Time(actual)) => {
                v.parse::<Timestamp>().is_ok_and(|v| *actual < v)
            }
            _ => false,
        })
    }

    fn key(&self, key: &str) -> Option<Known<'_>> {
        match key {
            "identitystore:userId" => Some(Known::Text(self.user_id)),
            "aws:CurrentTime" => Some(Known::Time(self.now)),
            "aws:TokenIssueTime" => Some(Known::Time(self.token_issued_at)),
            _ => None,
        }
    }
}

/// `"*"`, or an array holding it.
fn everything(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "*",
        Value::Array(all) => all.iter().any(|v| v.as_str() == Some("*")),
        _ => false,
    }
}
