//! What one pause changed on an object: the method, the one field it owns, the value it
//! set and the value before. Kept below the plans and the owned-field checks, which both
//! read it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{PauseMethod, PauseState, PausedTarget};

/// What the first holder changed on the object; stored on it as [`super::PAUSE_RECORD`], and on
/// the grant as its `pausedTargets[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub method: PauseMethod,
    /// JSON pointer of the one field the pause owns.
    pub path: String,
    /// What the field was set to while paused; absent when the pause removed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<Value>,
    /// The field before the pause; absent when it was unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Value>,
}

impl Record {
    /// The grant's own record of a pause it holds: only for an entry that reached the object
    /// (`Paused`, `ChangedByOthers`) and records the field (entries written before `path`
    /// was recorded have none, and restore from the annotations only).
    pub fn of_entry(entry: &PausedTarget) -> Option<Record> {
        if !matches!(
            entry.state,
            PauseState::Paused | PauseState::ChangedByOthers | PauseState::Held
        ) {
            return None;
        }
        let parse = |v: &Option<String>| -> Option<Option<Value>> {
            match v {
                None => Some(None),
                Some(text) => serde_json::from_str(text).ok().map(Some),
            }
        };
        Some(Record {
            method: entry.method,
            path: entry.path.clone()?,
            paused: parse(&entry.paused)?,
            original: parse(&entry.original)?,
        })
    }

    /// Whether `obj`'s field still holds the value this pause set.
    pub fn still_paused(&self, obj: &Value) -> bool {
        obj.pointer(&self.path) == self.paused.as_ref()
    }
}
