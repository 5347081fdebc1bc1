//! The data and the decisions of breakglass-operator, with no Kubernetes client,
//! k8s-openapi or AWS SDK in its tree. Data: the `breakglass.dev/v1alpha1` spec and status
//! types (serde + JSON schema, CEL rules as schema extensions), the Kubernetes meta types
//! they embed (`Condition`, `Time`, `LabelSelector`, serialized and described exactly as
//! k8s-openapi does), the typed ids the operator passes around. Decisions: policy
//! evaluation (`policy`), a grant's next step (`plan`), conditions (`conditions`), account
//! assignments (`assignments`), pausing (`pause`), the sweep's compare (`targets`), alert
//! matching and grouping (`alertmanager`), the session guard's Deny statements in a permission
//! set's inline policy (`sessions`). `breakglass-api` wraps the specs into kube
//! resources.

pub mod alertmanager;
pub mod assignments;
pub mod conditions;
mod duration;
mod ids;
pub mod meta;
pub mod pause;
pub mod plan;
pub mod policy;
pub mod sessions;
mod spec;
pub mod targets;
mod validation;

pub use duration::{DurationError, GoDuration, MAX_GRANT_DURATION};
pub use ids::{GrantKey, UserId};
pub use meta::{Condition, LabelSelector, LabelSelectorRequirement, Time};
pub use spec::*;
pub use validation::Rule;
