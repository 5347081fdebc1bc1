//! The `breakglass.dev/v1alpha1` API as kube resources: `BreakGlassGrant` and
//! `BreakGlassPolicy` around breakglass-core's spec and status types, and the CRD manifests
//! printed by `breakglass crds`; and who asks (`requester`: the caller's identity from a
//! SelfSubjectReview, the admission policy that checks `spec.requestedBy`). Every API type
//! is reachable here (`breakglass_api::X`).

mod convert;
/// The kinds (in a module of their own: `policy` names core's policy evaluation).
mod kind {
    pub mod grant;
    pub mod ledger;
    pub mod policy;
}
pub mod requester;

pub use breakglass_core::*;
pub use convert::{label_selector_to_k8s, time_from_k8s, time_to_k8s};
pub use kind::{
    grant::{BreakGlassGrant, GrantObjectSpec},
    ledger::{BreakGlassLedgerEntry, LedgerEntryObjectSpec},
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
    vec![
        BreakGlassGrant::crd(),
        BreakGlassPolicy::crd(),
        BreakGlassLedgerEntry::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream: exactly the content of `crds/`.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&quote_yaml11_booleans(&serde_yaml::to_string(&crd)?));
    }
    Ok(out)
}

/// Words YAML 1.1 reads as booleans when unquoted that YAML 1.2 reads as strings.
/// serde_yaml writes YAML 1.2 (it quotes a string `true` itself, and writes a real boolean
/// unquoted); kubectl and Helm read YAML 1.1, where an enum value `Off` would become `false`.
const YAML11_BOOLEANS: [&str; 16] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF",
];

/// Quotes every plain scalar (a list item or a mapping value on its own line) that YAML 1.1
/// would read as a boolean.
fn quote_yaml11_booleans(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        let split = line.rfind(": ").map(|i| i + 2).or_else(|| {
            line.trim_start()
                .starts_with("- ")
                .then(|| line.find("- ").map(|i| i + 2))
                .flatten()
        });
        match split {
            Some(at) if YAML11_BOOLEANS.contains(&&line[at..]) => {
                out.push_str(&line[..at]);
                out.push('\'');
                out.push_str(&line[at..]);
                out.push('\'');
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod yaml_tests {
    use super::*;

    #[test]
    fn words_yaml_1_1_reads_as_booleans_are_quoted() {
        let yaml = "enum:\n- Enforce\n- Off\ndefault: On\ndescription: turn it Off\nx: 'Off'\n";
        assert_eq!(
            quote_yaml11_booleans(yaml),
            "enum:\n- Enforce\n- 'Off'\ndefault: 'On'\ndescription: turn it Off\nx: 'Off'\n"
        );
    }

    #[test]
    fn the_crds_carry_no_unquoted_yaml_1_1_boolean() {
        let yaml = crds_yaml().expect("yaml");
        for line in yaml.lines() {
            let value = line
                .rsplit(": ")
                .next()
                .unwrap_or(line)
                .trim_start_matches("- ")
                .trim();
            assert!(!YAML11_BOOLEANS.contains(&value), "unquoted: {line}");
        }
        assert!(yaml.contains("- 'Off'"), "the guard's enum value is quoted");
    }
}
