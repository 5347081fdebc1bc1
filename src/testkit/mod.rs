//! The fast tier's in-process API server, in the style of kube-rs/controller-rs's
//! `ApiServerVerifier`: a kube [`Client`] over `tower_test::mock::pair`, and an [`ApiServer`]
//! that takes the requests one pass of operator code makes, in order, lets the test assert
//! each one's method, path and body, and answers it. Only for what the order and content
//! of the requests prove (write-ahead records, conflict and not-found handling); what only a
//! real API server proves (admission, watches, SSA, RBAC) stays in `tests/`.
//!
//! A test runs the code under test in a spawned task ([`ApiServer::run`]) and walks through
//! its requests on the test's own task; every wait is bounded, so a request that never
//! comes (or an unexpected one) fails the test instead of hanging it.

mod objects;
mod pipeline;
mod responder;
mod timeline;
mod verifier;

pub(crate) use objects::*;
pub(crate) use verifier::{ApiServer, client, finish, spawn};

/// The installation every in-process test's operator is (ledger entries, guard statements).
pub(crate) fn installation() -> breakglass_core::sessions::Installation {
    breakglass_core::sessions::Installation::new("test1").expect("a valid installation id")
}

mod tests_budgets;
mod tests_duration;
mod tests_guard;
mod tests_guard_group;
mod tests_guard_upkeep;
mod tests_ledger;
mod tests_pause_executor;
mod tests_pause_restore;
mod tests_pause_survey;
mod tests_pipeline_accounts;
mod tests_pipeline_ends;
mod tests_pipeline_faults;
mod tests_pipeline_group;
mod tests_pipeline_races;
mod tests_pipeline_sweep;
mod tests_webhook_create;
mod tests_webhook_write;
