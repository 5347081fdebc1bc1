//! Typed ids: what identifies a grant or a user across the operator, so a name is never
//! mistaken for an id and `namespace/name` is written in one place.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A grant by namespace and name (`ns/name`): its identity in logs, errors, locks and the
/// records of who holds what.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantKey {
    pub namespace: String,
    pub name: String,
}

impl GrantKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for GrantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Written as `ns/name`, as logs and the webhook's answers show a grant.
impl Serialize for GrantKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An Identity Store user ID (not the user name a grant names).
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(transparent)]
#[schemars(transparent)]
pub struct UserId(pub String);

impl UserId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for UserId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_key_reads_namespace_slash_name() {
        assert_eq!(
            GrantKey::new("team-a", "db-fix").to_string(),
            "team-a/db-fix"
        );
        assert!(GrantKey::new("a", "b") < GrantKey::new("a", "c"));
        let json = serde_json::to_string(&GrantKey::new("team-a", "db-fix")).unwrap();
        assert_eq!(json, r#""team-a/db-fix""#);
    }

    #[test]
    fn a_user_id_is_its_string_in_json() {
        let id: UserId = serde_json::from_str(r#""90676b4e""#).unwrap();
        assert_eq!(id.as_str(), "90676b4e");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""90676b4e""#);
    }
}
