//! The `breakglass.dev/v1alpha1` API as kube resources: `BreakGlassGrant` and
//! `BreakGlassPolicy` around breakglass-core's spec and status types, and the CRD manifests
//! printed by `breakglass crds`; and who asks (`requester`: the caller's identity from a
//! SelfSubjectReview, the admission policy that checks `spec.requestedBy`). Every API type
//! is reachable here (`breakglass_api::X`).

mod convert;
/// The two kinds (in a module of their own: `policy` names core's policy evaluation).
mod kind {
    pub mod grant;
    pub mod policy;
}
pub mod requester;

pub use breakglass_core::*;
pub use convert::{label_selector_to_k8s, time_from_k8s, time_to_k8s};
pub use kind::{
    grant::{BreakGlassGrant, GrantObjectSpec},
    policy::{BreakGlassPolicy, PolicyObjectSpec},
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every resource this operator owns.
pub const GROUP: &str = "breakglass.dev";
/// The one served (and stored) version.
pub const VERSION: &str = "v1alpha1";

/// Every CRD this operator owns, in the order `breakglass crds` prints them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![BreakGlassGrant::crd(), BreakGlassPolicy::crd()]
}

/// The CRDs as one multi-document YAML stream: exactly the content of `crds/`.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
