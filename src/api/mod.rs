//! The `breakglass.dev/v1alpha1` API: the kube resources and CRDs of `breakglass-api`, with
//! the data types of `breakglass-core` they carry, under the operator's old path.

pub use breakglass_api::*;
