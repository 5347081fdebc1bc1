//! The Kubernetes meta/v1 types the API embeds, without k8s-openapi: each serializes,
//! deserializes and describes itself (JSON schema) exactly as k8s-openapi 0.29's type of the
//! same name, so a status written with these reads back with those and the CRDs stay the
//! same. `breakglass-api` converts to and from k8s-openapi where a Kubernetes call needs it.

mod condition;
mod selector;
mod time;

pub use condition::Condition;
pub use selector::{LabelSelector, LabelSelectorRequirement};
pub use time::Time;

use serde::{Deserialize, Deserializer};

/// k8s-openapi reads an explicit `null` in a defaulted field as the default.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
