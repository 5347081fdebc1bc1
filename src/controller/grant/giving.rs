//! What giving access rests on, whatever the access kind (group membership in `give`,
//! account assignments in `assign`), and how giving can fail.

use k8s_openapi::jiff::Timestamp;

use crate::{
    aws::ActAs,
    controller::error::Error,
    pause::Selection,
    policy::{Denial, Eligibility},
};

pub(crate) enum GiveError {
    /// A look-up showed the grant is not allowed (eligibility by group membership).
    Denied(Denial),
    Failed(Error),
}

impl From<Error> for GiveError {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

/// What giving access rests on, whatever the access kind.
pub(crate) struct Giving {
    pub target: ActAs,
    pub selections: Vec<Selection>,
    /// The policy pauses something, or the grant holds pauses.
    pub pauses: bool,
    pub eligibility: Option<Eligibility>,
    /// When access started and when it expires.
    pub window: (Timestamp, Timestamp),
}
