//! The session guard's pure core. Removing someone from Identity Center does not end the
//! sessions they already hold, so the operator writes Deny statements into a permission
//! set's inline policy: an expiry (`Denial::After`) that makes AWS itself end access at the
//! latest end of the user's grants, and a cut (`Denial::IssuedBefore`) that ends the
//! sessions issued before the user's access ended. This module reads and writes those
//! statements in the policy text (keeping everyone else's exactly), decides which ones
//! should be there (`desired`), and pins what the written JSON means (`evaluate`).
//!
//! The operator's statements are known only by their `Sid`:
//! `BreakGlass` + installation id + `Exp` | `Cut` + the user id's ASCII letters and digits.

mod desired;
mod document;
mod evaluate;
mod statement;

use sha2::{Digest, Sha256};

pub use desired::{Span, UserGuard, changed, desired, still_held};
pub use document::{InlinePolicy, MAX_INLINE_POLICY_BYTES};
pub use evaluate::{Access, evaluate};
pub use statement::{Denial, GuardStatement};

/// What reading or naming the guard's statements can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("installation id {id:?}: {why}")]
    Installation { id: String, why: &'static str },
    #[error("the inline policy is not valid JSON: {source}")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error("the inline policy is not a JSON object")]
    NotAnObject,
    #[error("the inline policy's Statement is neither an object nor an array")]
    Statements,
    #[error("statement {sid}: malformed: {why}")]
    Malformed { sid: String, why: &'static str },
}

/// The operator installation a statement belongs to: several operators (clusters,
/// namespaces) may guard the same permission set, each rewriting only its own statements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Installation(String);

/// Kept short: it is repeated in every Sid, and the inline policy is limited in size.
const MAX_INSTALLATION_LEN: usize = 16;

impl Installation {
    /// 1 to 16 ASCII letters or digits (the id goes into Sids, which IAM limits to those).
    pub fn new(id: &str) -> Result<Self, SessionsError> {
        let why = if id.is_empty() {
            Some("must not be empty")
        } else if id.len() > MAX_INSTALLATION_LEN {
            Some("must be at most 16 characters")
        } else if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            Some("must be only ASCII letters and digits")
        } else {
            None
        };
        match why {
            Some(why) => Err(SessionsError::Installation {
                id: id.to_owned(),
                why,
            }),
            None => Ok(Self(id.to_owned())),
        }
    }

    /// A default id from something unique to the installation (e.g. cluster uid and
    /// namespace): the first 8 lowercase hex characters of its SHA-256.
    pub fn derive(seed: &str) -> Self {
        let digest = Sha256::digest(seed.as_bytes());
        Self(digest[..4].iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What every Sid of this installation starts with.
    pub fn prefix(&self) -> String {
        format!("BreakGlass{}", self.0)
    }
}

impl std::fmt::Display for Installation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests_desired;
#[cfg(test)]
mod tests_document;
#[cfg(test)]
mod tests_evaluate;
#[cfg(test)]
mod tests_statement;
