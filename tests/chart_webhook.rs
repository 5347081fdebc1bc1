//! The chart's webhook identity (`webhook.ownIdentity`): the webhook's ServiceAccount,
//! which the operator may impersonate and nothing else, and its rights (grants in
//! `webhook.grantNamespaces`, `request-on-behalf` on `webhook.alertPolicies`), rendered;
//! tests/chart.rs runs the controller under them.

mod common;

use common::*;
use serde::Deserialize;
use serde_json::{Value, json};

const CHART: &str = "charts/breakglass-operator";
const KUBE_VERSION: &str = "1.34.4";

fn render(ns: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "template",
        "dry",
        CHART,
        "--namespace",
        ns,
        "--kube-version",
        KUBE_VERSION,
    ];
    args.extend_from_slice(extra);
    let mut cmd = tool("helm");
    cmd.args(&args).current_dir(repo_path(""));
    let (ok, out) = run_with_input(cmd, "");
    assert!(ok, "helm template {extra:?}:\n{out}");
    serde_yaml::Deserializer::from_str(&out)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .filter_map(|v| serde_json::to_value(v).ok())
        .filter(|v: &Value| v.is_object())
        .collect()
}

#[test]
/// The webhook's own identity: its ServiceAccount (impersonated only), what the operator
/// may do with it, and its rights; none of it, and the operator's old rights, without it.
fn the_webhooks_own_identity_renders() {
    let ns = "bg";
    let find = |docs: &[Value], kind: &str, name: &str, in_ns: &str| {
        docs.iter()
            .find(|d| {
                d["kind"] == kind
                    && d["metadata"]["name"] == name
                    && d["metadata"]["namespace"].as_str().unwrap_or(ns) == in_ns
            })
            .cloned()
    };
    let rendered = render(
        ns,
        &[
            "--set",
            "webhook.grantNamespaces={incidents,payments}",
            "--set",
            "webhook.alertPolicies={prod-admin}",
        ],
    );
    let sa = "dry-breakglass-operator-webhook";
    let account = find(&rendered, "ServiceAccount", sa, ns).expect("the webhook's account");
    assert_eq!(account["automountServiceAccountToken"], false);
    let imp = find(
        &rendered,
        "Role",
        "dry-breakglass-operator-impersonate-webhook",
        ns,
    )
    .expect("impersonation role");
    assert_eq!(
        imp["rules"],
        json!([{"apiGroups": [""], "resources": ["serviceaccounts"], "resourceNames": [sa], "verbs": ["impersonate"]}])
    );
    assert!(
        find(
            &rendered,
            "RoleBinding",
            "dry-breakglass-operator-impersonate-webhook",
            ns
        )
        .is_some()
    );
    for grant_ns in ["incidents", "payments"] {
        let role = find(&rendered, "Role", sa, grant_ns).expect("a Role per grant namespace");
        assert_eq!(
            role["rules"][0]["verbs"],
            json!(["create", "get", "list", "watch", "patch", "update"])
        );
        let binding = find(&rendered, "RoleBinding", sa, grant_ns).expect("its binding");
        assert_eq!(binding["subjects"][0]["name"], sa);
    }
    let cluster = find(&rendered, "ClusterRole", sa, ns).expect("the webhook's ClusterRole");
    assert_eq!(
        cluster["rules"][1],
        json!({"apiGroups": ["breakglass.dev"], "resources": ["breakglasspolicies"],
               "resourceNames": ["prod-admin"], "verbs": ["request-on-behalf"]})
    );
    let operator = find(&rendered, "ClusterRole", "dry-breakglass-operator", ns).expect("operator");
    let verbs = |r: &Value| -> Vec<String> {
        r["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|rule| rule["apiGroups"] == json!(["breakglass.dev"]))
            // The ledger is the operator's own to create; grants and policies are not.
            .filter(|rule| rule["resources"] != json!(["breakglassledgerentries"]))
            .flat_map(|rule| rule["verbs"].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    assert!(
        !verbs(&operator)
            .iter()
            .any(|v| v == "create" || v == "request-on-behalf"),
        "the operator keeps no right the webhook has now: {operator}"
    );

    // Switched off: as before, the operator itself opens grants.
    let before = render(ns, &["--set", "webhook.ownIdentity=false"]);
    assert!(find(&before, "ServiceAccount", sa, ns).is_none());
    let operator = find(&before, "ClusterRole", "dry-breakglass-operator", ns).expect("operator");
    assert!(verbs(&operator).iter().any(|v| v == "request-on-behalf"));
    let deployment =
        find(&before, "Deployment", "dry-breakglass-operator", ns).expect("deployment");
    assert!(!deployment.to_string().contains("--webhook-impersonate"));
}
