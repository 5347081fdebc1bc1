//! breakglass-operator: temporary AWS IAM Identity Center access during incidents, with the
//! GitOps/IaC automation that would undo a manual repair paused for the grant's lifetime.
//!
//! Layout: `api` holds the `breakglass.dev/v1alpha1` types and their CRDs; pure helpers
//! (durations) live beside them so that every later layer can share them.

pub mod api;
