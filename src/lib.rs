//! breakglass-operator: temporary AWS IAM Identity Center access during incidents, with the
//! GitOps/IaC automation that would undo a manual repair paused for the grant's lifetime.
//!
//! Layout: `api` (re-export of the `breakglass-api` crate: types and CRDs, data in
//! `breakglass-core`) → `policy`, `assignments`, `targets` (pure, from `breakglass-core`)
//! and `plan` (pure decisions) → `aws` (the only AWS I/O) → `controller` (Kubernetes
//! wiring); `pause` holds the automation pausing (pure `select`, `plan`, `drift` and
//! `orphan` from `breakglass-core`, with its Kubernetes I/O in `pause::cluster` and one
//! grant's pauses in `pause::executor`); `conditions`, `telemetry` and `faults` (test-only
//! fault injection) support them. `webhook` turns Alertmanager notifications into grants
//! (pure matching in `webhook::alertmanager`, pure grouping in `webhook::storm::aggregate`,
//! both from `breakglass-core`); `admin` serves metrics and health (both servers through
//! `serve`, which bounds slow clients); `leader` runs the controller only while this
//! replica holds the leader Lease.

pub mod admin;
pub mod api;
/// AWS IAM Identity Center behind a trait (the `breakglass-aws` crate): the only AWS I/O.
pub use breakglass_aws as aws;
/// The account-assignment state machine (pure, in `breakglass-core`).
pub use breakglass_core::assignments;
pub use breakglass_plugin as cli;
pub mod cmd;
/// Conditions and what each outcome sets (pure, in `breakglass-core`).
pub use breakglass_core::conditions;
pub mod controller;
pub mod faults;
pub mod kube_client;
pub mod leader;
pub mod pause;
pub mod plan;
pub use breakglass_api::requester;
/// Policy evaluation (pure, in `breakglass-core`).
pub use breakglass_core::policy;
pub mod serve;
pub mod targets;
pub mod telemetry;
pub mod webhook;

/// The fast tier's in-process API server and the tests that drive operator code with it.
#[cfg(test)]
mod testkit;
