//! The data of breakglass-operator with no Kubernetes client, k8s-openapi or AWS SDK in its
//! tree: the `breakglass.dev/v1alpha1` spec and status types (serde + JSON schema, CEL rules
//! as schema extensions), the Kubernetes meta types they embed (`Condition`, `Time`,
//! `LabelSelector`, serialized and described exactly as k8s-openapi does), and the typed ids
//! the operator passes around. `breakglass-api` wraps the specs into kube resources.

mod duration;
mod grant;
mod ids;
pub mod meta;
mod pause;
mod policy;
mod validation;

pub use duration::{DurationError, GoDuration, MAX_GRANT_DURATION};
pub use grant::*;
pub use ids::{GrantKey, UserId};
pub use meta::{Condition, LabelSelector, LabelSelectorRequirement, Time};
pub use pause::*;
pub use policy::*;
pub use validation::Rule;
