//! One guard statement: its Sid, the JSON the operator writes, and reading it back.

use jiff::{RoundMode, Timestamp, TimestampRound, Unit};
use serde_json::{Value, json};

use super::{Installation, SessionsError};

const USER_KEY: &str = "identitystore:userId";
const CURRENT_TIME: &str = "aws:CurrentTime";
const TOKEN_ISSUE_TIME: &str = "aws:TokenIssueTime";

/// What a guard statement denies a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Denial {
    /// Everything once the current time is after this (the end of the user's grants).
    After(Timestamp),
    /// Every session whose token was issued before this (when the user's access ended).
    IssuedBefore(Timestamp),
}

impl Denial {
    /// The time as written: IAM compares whole seconds.
    pub fn at(&self) -> Timestamp {
        match *self {
            // Truncated: AWS then denies at most <1 s early, never late.
            Self::After(t) => floor(t),
            // Rounded up: a token issued in the same second as the end is still cut.
            Self::IssuedBefore(t) => ceil(t),
        }
    }

    /// The same denial at the time it is written with, so what is read back compares equal.
    pub fn normalized(&self) -> Self {
        match self {
            Self::After(_) => Self::After(self.at()),
            Self::IssuedBefore(_) => Self::IssuedBefore(self.at()),
        }
    }

    fn tag(&self) -> &'static str {
        match self {
            Self::After(_) => "Exp",
            Self::IssuedBefore(_) => "Cut",
        }
    }

    /// The condition operator and key the time goes under.
    fn condition(&self) -> (&'static str, &'static str) {
        match self {
            Self::After(_) => ("DateGreaterThan", CURRENT_TIME),
            Self::IssuedBefore(_) => ("DateLessThan", TOKEN_ISSUE_TIME),
        }
    }
}

fn round(t: Timestamp, mode: RoundMode) -> Timestamp {
    // Only fails past the end of jiff's range, where the time is as good as never.
    t.round(TimestampRound::new().smallest(Unit::Second).mode(mode))
        .unwrap_or(t)
}

fn floor(t: Timestamp) -> Timestamp {
    round(t, RoundMode::Floor)
}

fn ceil(t: Timestamp) -> Timestamp {
    round(t, RoundMode::Ceil)
}

/// One Deny statement of the operator for one user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuardStatement {
    /// The Identity Store user id.
    pub user_id: String,
    pub denial: Denial,
}

/// The user id as it goes into a Sid: IAM allows only ASCII letters and digits there.
fn sid_user(user_id: &str) -> String {
    user_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

impl GuardStatement {
    pub fn new(user_id: impl Into<String>, denial: Denial) -> Self {
        Self {
            user_id: user_id.into(),
            denial,
        }
    }

    /// The Sid without the installation's prefix; orders statements as their Sids do.
    pub(super) fn sid_suffix(&self) -> String {
        format!("{}{}", self.denial.tag(), sid_user(&self.user_id))
    }

    /// Two user ids that differ only in other characters would share a Sid; Identity
    /// Store ids (hex digits and hyphens, hyphens in fixed places) cannot.
    pub fn sid(&self, inst: &Installation) -> String {
        format!("{}{}", inst.prefix(), self.sid_suffix())
    }

    /// The statement as written into the inline policy.
    pub fn to_json(&self, inst: &Installation) -> Value {
        let (op, key) = self.denial.condition();
        json!({
            "Sid": self.sid(inst),
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringEquals": { USER_KEY: self.user_id },
                op: { key: self.denial.at().to_string() },
            },
        })
    }

    /// Reads one statement of a policy back. `None` when it is not this installation's
    /// (by its Sid); an error when the Sid is ours but the statement is not exactly what
    /// [`to_json`](Self::to_json) writes (the caller then overwrites it).
    pub fn from_json(v: &Value, inst: &Installation) -> Option<Result<Self, SessionsError>> {
        let sid = v.get("Sid")?.as_str()?;
        let rest = sid.strip_prefix(&inst.prefix())?;
        if !(rest.starts_with("Exp") || rest.starts_with("Cut")) {
            return None;
        }
        let malformed = |why| {
            Some(Err(SessionsError::Malformed {
                sid: sid.to_owned(),
                why,
            }))
        };
        let read = match read_body(v) {
            Ok(read) => read,
            Err(why) => return malformed(why),
        };
        if read.to_json(inst) == *v {
            Some(Ok(read))
        } else if foreign(sid, &read, inst) {
            None
        } else {
            malformed("it differs from what the operator writes")
        }
    }
}

/// Whether a statement whose Sid starts like ours is another installation's, one whose id
/// extends ours (ours `ab`, theirs `abExp`): its Sid names its own user and kind under that
/// other id. (A malformed one cannot be told apart, and is taken as ours.)
fn foreign(sid: &str, read: &GuardStatement, inst: &Installation) -> bool {
    sid.strip_prefix("BreakGlass")
        .and_then(|rest| rest.strip_suffix(&read.sid_suffix()))
        .and_then(|id| Installation::new(id).ok())
        .is_some_and(|other| other != *inst)
}

/// The user and the denial of a statement, from its condition alone (the Sid is checked by
/// the caller).
fn read_body(v: &Value) -> Result<GuardStatement, &'static str> {
    let cond = v
        .get("Condition")
        .and_then(Value::as_object)
        .ok_or("no Condition object")?;
    let user_id = cond
        .get("StringEquals")
        .and_then(|m| m.get(USER_KEY))
        .and_then(Value::as_str)
        .ok_or("no StringEquals on identitystore:userId")?;
    let time = |op: &str, key: &str| cond.get(op).and_then(|m| m.get(key));
    let (time, after) = match (
        time("DateGreaterThan", CURRENT_TIME),
        time("DateLessThan", TOKEN_ISSUE_TIME),
    ) {
        (Some(t), None) => (t, true),
        (None, Some(t)) => (t, false),
        _ => return Err("not exactly one of aws:CurrentTime, aws:TokenIssueTime"),
    };
    let time: Timestamp = time
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or("the time is not an RFC 3339 timestamp")?;
    let denial = if after {
        Denial::After(time)
    } else {
        Denial::IssuedBefore(time)
    };
    Ok(GuardStatement::new(user_id, denial))
}
