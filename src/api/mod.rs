//! The `breakglass.dev/v1alpha1` API: custom resource types, their schemas (OpenAPI + CEL),
//! and the CRD manifests printed by `breakglass crds`.

mod duration;
mod grant;
mod pause;
mod policy;
mod validation;

pub use duration::{DurationError, GoDuration, MAX_GRANT_DURATION};
pub use grant::*;
pub use pause::*;
pub use policy::*;

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
