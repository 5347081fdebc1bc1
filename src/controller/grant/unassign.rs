//! Taking account assignments back: per account, unless another Active grant of the user
//! still gives it, a delete whose request id is recorded before it is polled; the grant
//! ends only once AWS confirmed every account. Which account and which call is decided in
//! `decide::accounts` (pure), one step at a time.

use super::{
    assignment::recorded,
    decide::{
        accounts::{self, assignment},
        holders::holders,
    },
    effect::{Effect, Unassign},
    execute::apply,
    pass::Pass,
};
use crate::{
    api::{AssignmentState, BreakGlassGrant, GrantKey},
    aws::ActAs,
    controller::{error::Error, journal::Journal},
};

/// What `revoke_accounts` came to.
pub(super) enum Revoked {
    /// Every account is removed (or kept for another grant): the note says which.
    Done(String),
    /// AWS is still deleting: look again after this long.
    Waiting(std::time::Duration),
}

/// Takes the permission set back on every account, except where another Active grant of
/// the same user still gives it. Each delete's request id is recorded before it is polled.
pub(super) async fn revoke_accounts(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    target: &ActAs,
    others: &[BreakGlassGrant],
) -> Result<Revoked, Error> {
    let Some(user_id) = journal.status().user_id.clone() else {
        return Err(Error::NoRecord {
            grant: pass.me.clone(),
        });
    };
    let mut entries = recorded(journal.status());
    let who: Vec<Vec<GrantKey>> = entries
        .iter()
        .map(|e| {
            let a = assignment(e);
            holders(pass.grant, others, &user_id, pass.now.0, |s| {
                recorded(s)
                    .iter()
                    .any(|h| h.state == AssignmentState::Assigned && assignment(h) == a)
            })
        })
        .collect();
    let kept = accounts::keep_shared(&mut entries, &who);
    apply(pass, journal, vec![Effect::Accounts(entries)]).await?;
    let mut from = 0;
    while let Some((index, step)) = accounts::next_unassign(&recorded(journal.status()), from) {
        let unassign = Unassign {
            index,
            assignment: assignment(&recorded(journal.status())[index]),
            step,
            target: target.clone(),
            user_id: user_id.clone(),
        };
        apply(pass, journal, vec![Effect::Unassign(Box::new(unassign))]).await?;
        from = index + 1;
    }
    match accounts::removed(&recorded(journal.status()), &kept) {
        Some(note) => {
            apply(pass, journal, vec![Effect::PolledOut]).await?;
            Ok(Revoked::Done(note))
        }
        None => {
            journal.commit().await?;
            let delay = pass
                .ctx
                .sso
                .next_poll(&pass.key)
                .unwrap_or(std::time::Duration::from_secs(10));
            Ok(Revoked::Waiting(delay))
        }
    }
}
