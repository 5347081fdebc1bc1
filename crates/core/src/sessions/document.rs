//! A permission set's inline policy: the operator's statements, read out of and written
//! back into a document whose other content is kept exactly.

use serde_json::{Map, Value};

use super::{GuardStatement, Installation, SessionsError};

/// The most an inline policy of a permission set may hold (IAM Identity Center's quota).
pub const MAX_INLINE_POLICY_BYTES: usize = 32_768;

const VERSION: &str = "2012-10-17";

/// An inline policy split into this installation's statements and everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct InlinePolicy {
    inst: Installation,
    /// The top-level keys but `Statement` (`Version`, `Id`, ...), as read.
    top: Map<String, Value>,
    /// Every statement that is not this installation's, in its order, as read.
    others: Vec<Value>,
    ours: Vec<GuardStatement>,
    /// The Sids of our statements that were not what the operator writes; dropped, so the
    /// next write replaces them.
    malformed: Vec<String>,
}

impl InlinePolicy {
    /// Reads the policy text as AWS returns it; empty text is an empty document (no inline
    /// policy yet).
    pub fn parse(text: &str, inst: &Installation) -> Result<Self, SessionsError> {
        let mut policy = Self {
            inst: inst.clone(),
            top: Map::new(),
            others: vec![],
            ours: vec![],
            malformed: vec![],
        };
        if text.trim().is_empty() {
            return Ok(policy);
        }
        let value: Value =
            serde_json::from_str(text).map_err(|source| SessionsError::Json { source })?;
        let Value::Object(mut top) = value else {
            return Err(SessionsError::NotAnObject);
        };
        // IAM takes one statement object or an array of them.
        let statements = match top.remove("Statement") {
            None => vec![],
            Some(Value::Array(all)) => all,
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => return Err(SessionsError::Statements),
        };
        policy.top = top;
        for s in statements {
            match GuardStatement::from_json(&s, inst) {
                None => policy.others.push(s),
                Some(Ok(ours)) => policy.ours.push(ours),
                Some(Err(_)) => {
                    let sid = s.get("Sid").and_then(Value::as_str).unwrap_or_default();
                    policy.malformed.push(sid.to_owned());
                }
            }
        }
        Ok(policy)
    }

    /// This installation's statements, as read (or as set by [`with_ours`](Self::with_ours)).
    pub fn ours(&self) -> &[GuardStatement] {
        &self.ours
    }

    /// The Sids of this installation's statements that parse dropped as malformed.
    pub fn malformed(&self) -> &[String] {
        &self.malformed
    }

    /// The same document with `ours` as this installation's statements, sorted by Sid so
    /// the text is stable; everything else is kept exactly.
    pub fn with_ours(&self, mut ours: Vec<GuardStatement>) -> Self {
        ours.sort_by_cached_key(|s| (s.sid_suffix(), s.user_id.clone(), s.denial.at()));
        ours.dedup();
        Self {
            inst: self.inst.clone(),
            top: self.top.clone(),
            others: self.others.clone(),
            ours,
            malformed: vec![],
        }
    }

    /// Every statement as written: the others in their order, then ours.
    pub fn statements(&self) -> Vec<Value> {
        let ours = self.ours.iter().map(|s| s.to_json(&self.inst));
        self.others.iter().cloned().chain(ours).collect()
    }

    /// The compact JSON to write; `None` when the document would hold no statement and
    /// nothing else but a `Version` (the caller then deletes the inline policy).
    pub fn render(&self) -> Option<String> {
        let statements = self.statements();
        if statements.is_empty() && self.top.keys().all(|k| k == "Version") {
            return None;
        }
        // Written by hand so the keys keep one order (Version first, Statement last)
        // whatever order serde_json's map keeps.
        let version = self
            .top
            .get("Version")
            .cloned()
            .unwrap_or_else(|| Value::String(VERSION.to_owned()));
        let mut out = format!("{{\"Version\":{version}");
        for (k, v) in self.top.iter().filter(|(k, _)| *k != "Version") {
            out.push_str(&format!(",{}:{v}", Value::String(k.clone())));
        }
        out.push_str(&format!(",\"Statement\":{}}}", Value::Array(statements)));
        Some(out)
    }

    /// Whether the rendered document is within [`MAX_INLINE_POLICY_BYTES`].
    pub fn fits(&self) -> bool {
        self.render()
            .is_none_or(|text| text.len() <= MAX_INLINE_POLICY_BYTES)
    }
}
