//! The AWS examples people copy: no trust policy trusts a principal without saying which
//! workload may use it (no server needed: part of the fast tier).

use serde_json::Value;

fn read(path: &str) -> Value {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn condition_keys(statement: &Value) -> Vec<String> {
    statement["Condition"]
        .as_object()
        .into_iter()
        .flat_map(|ops| ops.values())
        .filter_map(Value::as_object)
        .flat_map(|keys| keys.keys().cloned())
        .collect()
}

#[test]
fn every_trust_statement_names_the_workload_it_trusts() {
    for path in [
        "examples/aws/operator-role-trust-policy.json",
        "examples/aws/breakglass-role-trust-policy.json",
    ] {
        let policy = read(path);
        let statements = policy["Statement"].as_array().expect("statements");
        assert!(!statements.is_empty(), "{path}");
        for s in statements {
            let keys = condition_keys(s);
            let principal = &s["Principal"];
            let needed: Vec<&str> = if principal["Service"] == "pods.eks.amazonaws.com" {
                vec![
                    "aws:SourceAccount",
                    "aws:RequestTag/eks-cluster-arn",
                    "aws:RequestTag/kubernetes-namespace",
                    "aws:RequestTag/kubernetes-service-account",
                ]
            } else if principal["Federated"].is_string() {
                vec![":sub", ":aud"]
            } else {
                vec!["sts:ExternalId"]
            };
            for n in needed {
                assert!(
                    keys.iter().any(|k| k.ends_with(n)),
                    "{path}: statement {} trusts {principal} without {n}: {keys:?}",
                    s["Sid"]
                );
            }
        }
    }
}
