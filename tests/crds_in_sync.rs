//! crds/ (and the chart's copy) must be exactly what `breakglass crds` prints, and the examples must be objects the
//! API types can read. No server needed.

use breakglass::api::{BreakGlassGrant, BreakGlassPolicy};
use serde::Deserialize;
use std::path::PathBuf;

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

#[test]
fn crds_directory_matches_generated_crds() {
    let generated = breakglass::api::crds_yaml().expect("CRDs serialize");
    assert!(
        repo_file("crds/breakglass.dev.yaml") == generated,
        "crds/breakglass.dev.yaml is stale: run `make crds` and commit the result"
    );
    assert!(
        repo_file("charts/breakglass-operator/crds/breakglass.dev.yaml") == generated,
        "the Helm chart's CRDs are stale: run `make crds` and commit the result"
    );
}

#[test]
fn binary_prints_the_same_crds() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .arg("crds")
        .output()
        .expect("running breakglass crds");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout).expect("utf-8") == repo_file("crds/breakglass.dev.yaml"),
        "`breakglass crds` differs from crds/breakglass.dev.yaml: run `make crds` and commit the result"
    );
}

fn documents(path: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(&repo_file(path))
        .map(|d| serde_yaml::Value::deserialize(d).expect("YAML"))
        .collect()
}

#[test]
fn examples_are_valid_api_objects() {
    for file in [
        "examples/policies/prod-admin.yaml",
        "examples/policy-account-assignment.yaml",
    ] {
        for doc in documents(file) {
            let policy: BreakGlassPolicy =
                serde_yaml::from_value(doc).unwrap_or_else(|e| panic!("{file}: {e}"));
            let access = &policy.spec.access;
            assert!(
                access.group_membership.is_some() != access.account_assignment.is_some(),
                "{file}: exactly one access kind"
            );
        }
    }
    for file in [
        "examples/grant.yaml",
        "examples/grant-account-assignment.yaml",
    ] {
        for doc in documents(file) {
            let grant: BreakGlassGrant =
                serde_yaml::from_value(doc).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!grant.spec.reason.trim().is_empty());
        }
    }
}
