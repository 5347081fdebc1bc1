//! How every call in memory goes: it opens its session if needed (AssumeRole, logged), is
//! logged, then meets the fault planned for it if any, before it answers from the state.

use super::{Logged, Memory, Op, State, faults};
use crate::{Actor, Api, Budgets, Error, limit::account};

impl Op {
    /// The API whose budget the call spends.
    pub fn api(self) -> Api {
        match self {
            Self::AssumeRole => Api::Sts,
            Self::GetUserId
            | Self::GetGroupId
            | Self::GetGroupMembershipId
            | Self::CreateGroupMembership
            | Self::DeleteGroupMembership
            | Self::ListGroupMemberships => Api::IdentityStore,
            _ => Api::SsoAdmin,
        }
    }
}

/// Tells the call's budget what it met: throttled, or answered; no answer says nothing.
fn feedback(budgets: Option<&Budgets>, op: Op, actor: Actor<'_>, met: &Result<(), Error>) {
    let Some(budgets) = budgets else { return };
    let throttled = match met {
        Ok(()) => false,
        Err(
            Error::Timeout { .. }
            | Error::AssumeRole {
                timed_out: true, ..
            },
        ) => return,
        Err(e) => e.is_throttling(),
    };
    budgets.answered(op.api(), &account(op.api(), actor), throttled);
}

impl Memory {
    /// Waits the call's turn at its budget (when paced), then enters it; tells the budget
    /// what the call met.
    pub(super) async fn enter(&self, op: Op, actor: Actor<'_>, args: &[&str]) -> Result<(), Error> {
        let budgets = self.state().budgets.clone();
        let Some(budgets) = budgets else {
            return self.enter_now(op, actor, args, None).await;
        };
        let (role_arn, session_name) = actor.target.session(actor.role);
        let key = (role_arn.to_owned(), session_name.to_owned());
        let opening = !self.state().sessions.contains(&key);
        let sts = if opening || op == Op::AssumeRole {
            Some(budgets.wait(Api::Sts, crate::CALLER).await)
        } else {
            None
        };
        let _turn = match op {
            Op::AssumeRole => None,
            _ => Some(budgets.wait(op.api(), &account(op.api(), actor)).await),
        };
        drop(sts);
        self.enter_now(op, actor, args, Some(&budgets)).await
    }

    /// Logs the call (and the AssumeRole opening its session), then meets its fault.
    async fn enter_now(
        &self,
        op: Op,
        actor: Actor<'_>,
        args: &[&str],
        budgets: Option<&Budgets>,
    ) -> Result<(), Error> {
        let (role_arn, session_name) = actor.target.session(actor.role);
        let key = (role_arn.to_owned(), session_name.to_owned());
        let logged = |op| Logged {
            op,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            role_arn: key.0.clone(),
            session_name: key.1.clone(),
        };
        let opening = {
            let mut s = self.state();
            if s.sessions.contains(&key) {
                None
            } else {
                s.push(logged(Op::AssumeRole));
                if s.denied.contains(role_arn) {
                    return Err(faults::error(
                        Op::AssumeRole,
                        faults::Fault::AccessDenied,
                        actor,
                    ));
                }
                Some(self.pending(&mut s, Op::AssumeRole))
            }
        };
        if let Some(fault) = opening {
            let met = self.meet(Op::AssumeRole, fault, actor).await;
            feedback(budgets, Op::AssumeRole, actor, &met);
            met?;
            self.state().sessions.insert(key.clone());
        }
        if op == Op::AssumeRole {
            return Ok(());
        }
        let fault = {
            let mut s = self.state();
            s.push(logged(op));
            self.pending(&mut s, op)
        };
        let met = self.meet(op, fault, actor).await;
        feedback(budgets, op, actor, &met);
        met
    }

    /// The fault planned for this call of `op`; a stall starts waiting for its release
    /// under the state's lock, so a release can never slip between.
    fn pending(&self, s: &mut State, op: Op) -> Pending {
        match faults::take(&mut s.faults, op) {
            None => Pending::Answer,
            Some(faults::Fault::Stall) => Pending::Stall(self.release.subscribe()),
            Some(fault) => Pending::Fail(fault),
        }
    }

    async fn meet(&self, op: Op, pending: Pending, actor: Actor<'_>) -> Result<(), Error> {
        match pending {
            Pending::Answer => Ok(()),
            Pending::Stall(mut released) => {
                let deadline = self.state().deadline;
                // Closed only with the `Memory` itself, which this call borrows.
                let released = released.changed();
                match deadline {
                    None => {
                        let _ = released.await;
                        Ok(())
                    }
                    Some(d) => match tokio::time::timeout(d, released).await {
                        Ok(_) => Ok(()),
                        Err(_) => Err(faults::timeout(op, actor)),
                    },
                }
            }
            Pending::Fail(fault) => Err(faults::error(op, fault, actor)),
        }
    }
}

/// What a call meets before its answer.
enum Pending {
    Answer,
    Fail(faults::Fault),
    Stall(tokio::sync::watch::Receiver<u64>),
}
