//! One grant pass's context: the grant, its policy, the one `now` of the pass, the shared
//! `Context`, and the grant's identity; and what every step does with it (Events, failures
//! recorded on the grant).

use crate::api::Time;
use kube::{
    Resource, ResourceExt,
    runtime::{events::EventType, reflector::ObjectRef},
};

use super::effect::Announcement;
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicySpec, GrantKey},
    aws,
    conditions::Outcome,
    controller::{context::Context, error::Error, journal::Journal},
    pause::executor as pausing,
};

pub(crate) struct Pass<'a> {
    pub grant: &'a BreakGlassGrant,
    /// The policy by a fresh read; `None` when it is gone.
    pub policy: Option<&'a BreakGlassPolicySpec>,
    pub ctx: &'a Context,
    /// The time of every decision and record of the pass, taken once.
    pub now: Time,
    /// The grant, as errors name it.
    pub me: ObjectRef<BreakGlassGrant>,
    /// The grant's identity (`namespace/name` as the ledger and pause annotations write it).
    pub key: GrantKey,
}

impl<'a> Pass<'a> {
    pub(crate) fn new(
        grant: &'a BreakGlassGrant,
        policy: Option<&'a BreakGlassPolicySpec>,
        ctx: &'a Context,
        now: Time,
    ) -> Self {
        Self {
            grant,
            policy,
            ctx,
            now,
            me: ObjectRef::from_obj(grant),
            key: grant.key(),
        }
    }

    /// The journal of this pass: the only writer of the grant's status.
    pub(crate) fn journal(&self) -> Journal<'a> {
        Journal::open(self.grant, self.ctx, self.now.clone())
    }

    pub(crate) fn aws_error(&self, op: &'static str, source: aws::Error) -> Error {
        Error::Aws {
            grant: self.me.clone(),
            op,
            source,
        }
    }

    /// Records an AWS failure on the grant (`Stalled` until a retry succeeds, so an alert
    /// can tell a grant whose access cannot be given or taken back; best effort) and
    /// returns it for the retry.
    pub(crate) async fn fail(
        &self,
        journal: &mut Journal<'_>,
        op: &'static str,
        err: aws::Error,
    ) -> Error {
        let msg = format!("{err}; retrying");
        journal.settle(&Outcome::Failed {
            reason: err.reason(),
            message: &msg,
        });
        if journal.commit_failure().await {
            self.announce(&Announcement::warning(err.reason(), "Aws", msg))
                .await;
        }
        self.aws_error(op, err)
    }

    /// Records an Event on the grant; best effort.
    pub(crate) async fn announce(&self, a: &Announcement) {
        let type_ = if a.warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        self.ctx
            .publish(
                &self.grant.object_ref(&()),
                type_,
                a.reason,
                a.action,
                &a.note,
            )
            .await;
    }

    /// The pause executor's notes, as Events of `action`.
    pub(crate) async fn announce_notes(&self, notes: Vec<pausing::Note>, action: &'static str) {
        for note in pausing::merge(notes) {
            self.announce(&Announcement {
                warning: note.warning,
                reason: note.reason,
                action,
                note: note.message,
            })
            .await;
        }
    }

    pub(crate) fn name(&self) -> String {
        self.grant.name_any()
    }
}
