//! The Helm chart: linted, its schema refusing bad values, its rendered manifests accepted
//! by the real API server (server-side dry run, restricted Pod Security), and the
//! controller run under nothing but the chart's RBAC (a ServiceAccount token, not admin)
//! through a whole grant lifecycle, webhook included, with `/metrics` scraped after it;
//! the chart's requester admission policy in force meanwhile, so the webhook's grants are
//! proven to pass it.

mod common;

use std::path::Path;

use breakglass::api::{GrantPhase, PauseProblem, PauseState};
use common::*;
use k8s_openapi::api::{
    authentication::v1::TokenRequest,
    core::v1::{Secret, ServiceAccount},
};
use kube::{
    Api, Client, Config,
    api::{ListParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde::Deserialize;
use serde_json::{Value, json};

const CHART: &str = "charts/breakglass-operator";
const KUBE_VERSION: &str = "1.34.4";

fn helm(args: &[&str]) -> (bool, String) {
    let mut cmd = tool("helm");
    cmd.args(args).current_dir(repo_path(""));
    run_with_input(cmd, "")
}

fn render(release: &str, ns: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "template",
        release,
        CHART,
        "--namespace",
        ns,
        "--kube-version",
        KUBE_VERSION,
    ];
    args.extend_from_slice(extra);
    let (ok, out) = helm(&args);
    assert!(ok, "helm template {extra:?}:\n{out}");
    out
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .filter_map(|v| serde_json::to_value(v).ok())
        .filter(|v: &Value| v.is_object())
        .collect()
}

fn kubectl(args: &[&str], stdin: &str) -> (bool, String) {
    let mut cmd = tool("kubectl");
    cmd.args(args);
    run_with_input(cmd, stdin)
}

/// The chart's admission policy is the one `breakglass admission-policy` prints (one source
/// of truth for the CEL), for the default and for a username prefix, with the chart's own
/// ServiceAccounts (operator, webhook) as the operator's identities and any further ones
/// named in values.
#[test]
fn the_charts_admission_policy_is_the_binarys() {
    use breakglass::requester::admission::{Options, binding, policy};
    let chart_sa = "system:serviceaccount:default:r-breakglass-operator";
    let webhook_sa = "system:serviceaccount:default:r-breakglass-operator-webhook";
    let other = "system:serviceaccount:default:other";
    for (prefix, values, operators) in [
        ("", vec![], vec![chart_sa, webhook_sa]),
        (
            "oidc:",
            vec![format!("admissionPolicy.operatorUsernames={{{other}}}")],
            vec![chart_sa, webhook_sa, other],
        ),
        // The webhook writing as the operator: one identity, listed once.
        (
            "",
            vec![
                "webhook.ownIdentity=false".to_owned(),
                format!("admissionPolicy.operatorUsernames={{{chart_sa}}}"),
            ],
            vec![chart_sa],
        ),
    ] {
        let mut set = vec![format!("admissionPolicy.usernamePrefix={prefix}")];
        set.extend(values.iter().cloned());
        let mut args = vec!["--show-only", "templates/admission-policy.yaml"];
        for s in &set {
            args.extend(["--set", s]);
        }
        let rendered = render("r", "default", &args);
        let mut rendered = docs(&rendered);
        for d in &mut rendered {
            d["metadata"].as_object_mut().map(|m| m.remove("labels"));
        }
        let options = Options {
            name: "r-breakglass-operator-requester".into(),
            username_prefix: prefix.into(),
            operator_usernames: operators.iter().map(|u| u.to_string()).collect(),
            namespace_selector: None,
        };
        let ours = vec![
            serde_json::to_value(policy(&options).expect("policy")).expect("json"),
            serde_json::to_value(binding(&options)).expect("json"),
        ];
        assert_eq!(rendered, ours, "prefix {prefix:?}, values {values:?}");
        // What the binary prints is the same policy.
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"));
        cmd.args([
            "admission-policy",
            "--name",
            "r-breakglass-operator-requester",
            "--username-prefix",
            prefix,
        ]);
        for u in &operators {
            cmd.args(["--operator-username", u]);
        }
        let (ok, printed) = run_with_input(cmd, "");
        assert!(ok, "{printed}");
        assert_eq!(docs(&printed), rendered, "printed, prefix {prefix:?}");
    }
    let mut bare = std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"));
    bare.arg("admission-policy");
    let (ok, out) = run_with_input(bare, "");
    assert!(
        !ok && out.contains("--operator-username"),
        "without the operator's identity the policy would refuse its writes: {out}"
    );
    // Anything that goes into the policy's CEL is refused when it could break out of it.
    for (set, named, what) in [
        (
            "admissionPolicy.operatorUsernames={x' || true || '}",
            "operatorUsernames",
            "an operator username",
        ),
        (
            "serviceAccount.name=x' || true || '",
            "operator username",
            "a ServiceAccount name",
        ),
        (
            "admissionPolicy.usernamePrefix=x' || true || '",
            "usernamePrefix",
            "a prefix",
        ),
    ] {
        let (ok, out) = helm(&[
            "template",
            "r",
            CHART,
            "--kube-version",
            KUBE_VERSION,
            "--set",
            set,
        ]);
        assert!(
            !ok && out.contains(named),
            "{what} that would break the CEL is refused: {out}"
        );
    }
}

#[test]
fn the_chart_lints_and_its_schema_refuses_bad_values() {
    for values in [None, Some("charts/breakglass-operator/ci/full-values.yaml")] {
        let mut args = vec!["lint", CHART, "--strict", "--kube-version", KUBE_VERSION];
        if let Some(v) = values {
            args.extend(["-f", v]);
        }
        let (ok, out) = helm(&args);
        assert!(ok && out.contains("0 chart(s) failed"), "{out}");
    }
    for (bad, says) in [
        (vec!["--set", "replicaCount=0"], "/replicaCount"),
        (vec!["--set", "webhook.port=70000"], "/webhook/port"),
        (
            vec!["--set", "webhook.maxConcurrent=0"],
            "/webhook/maxConcurrent",
        ),
        (
            vec!["--set", "http.maxConnections=0"],
            "/http/maxConnections",
        ),
        (
            vec!["--set", "http.headerTimeout=10"],
            "/http/headerTimeout",
        ),
        (
            vec!["--set", "controller.logFormat=xml"],
            "/controller/logFormat",
        ),
        (
            vec!["--set", "leaderElection.leaseGrace=1"],
            "/leaderElection/leaseGrace",
        ),
        (
            vec!["--set", "rbac.pauseTargets[0].resources=null"],
            "/rbac/pauseTargets/0",
        ),
        (vec!["--set", "replicas=3"], "replicas"),
    ] {
        let mut args = vec!["template", "bad", CHART, "--kube-version", KUBE_VERSION];
        args.extend(bad.iter().copied());
        let (ok, out) = helm(&args);
        assert!(!ok, "{bad:?} was accepted:\n{out}");
        assert!(
            out.contains("values don't meet the specifications") && out.contains(says),
            "{bad:?}: unclear error:\n{out}"
        );
    }
}

#[tokio::test]
async fn rendered_manifests_are_accepted_by_the_api_server() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "chart").await;
    // Restricted Pod Security: the API server refuses any Pod that breaks it.
    let (ok, out) = kubectl(
        &[
            "label",
            "namespace",
            &ns,
            "pod-security.kubernetes.io/enforce=restricted",
        ],
        "",
    );
    assert!(ok, "{out}");
    for values in [
        vec![],
        vec!["-f", "charts/breakglass-operator/ci/full-values.yaml"],
    ] {
        let mut extra = vec!["--include-crds"];
        extra.extend(values.iter().copied());
        let rendered = render("dry", &ns, &extra);
        let kinds: Vec<String> = docs(&rendered)
            .iter()
            .filter_map(|d| d["kind"].as_str().map(str::to_owned))
            .collect();
        for want in [
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ] {
            assert!(kinds.iter().any(|k| k == want), "{want} missing: {kinds:?}");
        }
        for optional in ["ServiceMonitor", "PrometheusRule", "ConfigMap"] {
            assert_eq!(
                kinds.iter().any(|k| k == optional),
                !values.is_empty(),
                "{optional}: {kinds:?}"
            );
        }
        let (ok, out) = kubectl(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager",
                "chart-test",
                "-f",
                "-",
            ],
            &rendered,
        );
        assert!(ok, "server-side dry run refused {values:?}:\n{out}");
        assert!(
            out.contains(
                "deployment.apps/dry-breakglass-operator serverside-applied (server dry run)"
            ),
            "{out}"
        );

        // The Deployment's Pod, as the ReplicaSet would create it.
        let deployment = docs(&rendered)
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("deployment");
        assert_eq!(deployment["spec"]["replicas"], 2);
        let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].clone();
        assert!(
            args.as_array()
                .is_some_and(|a| a.iter().any(|x| x == "--leader-elect")),
            "{args}"
        );
        let impersonate = format!(
            "--webhook-impersonate=system:serviceaccount:{ns}:dry-breakglass-operator-webhook"
        );
        assert!(
            args.as_array()
                .is_some_and(|a| a.iter().any(|x| x == impersonate.as_str())),
            "the webhook writes as its own ServiceAccount: {args}"
        );
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dry-pod", "namespace": ns}});
        pod["spec"] = deployment["spec"]["template"]["spec"].clone();
        let (ok, out) = kubectl(&["create", "--dry-run=server", "-f", "-"], &pod.to_string());
        assert!(ok, "the Pod breaks restricted Pod Security:\n{out}");
    }
    // And the check has teeth: a privileged variant is refused.
    let rendered = render("dry", &ns, &[]);
    let deployment = docs(&rendered)
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("deployment");
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dry-pod", "namespace": ns}});
    pod["spec"] = deployment["spec"]["template"]["spec"].clone();
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    let (ok, out) = kubectl(&["create", "--dry-run=server", "-f", "-"], &pod.to_string());
    assert!(!ok && out.contains("violates PodSecurity"), "{out}");
}

/// A kubeconfig for the ServiceAccount: same server and CA as the admin's, its own token.
async fn service_account_kubeconfig(client: &Client, ns: &str, sa: &str, path: &Path) {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let request: TokenRequest = serde_json::from_value(json!({
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .expect("token request");
    let token = accounts
        .create_token_request(sa, &PostParams::default(), &request)
        .await
        .expect("service account token")
        .status
        .expect("token status")
        .token;
    let mut config: Value = serde_yaml::from_str(
        &std::fs::read_to_string(kubeconfig_path()).expect("admin kubeconfig"),
    )
    .expect("kubeconfig yaml");
    config["users"] = json!([{"name": sa, "user": {"token": token}}]);
    config["contexts"][0]["context"]["user"] = json!(sa);
    std::fs::write(path, serde_yaml::to_string(&config).expect("yaml")).expect("write");
}

async fn client_from(path: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn application_yaml(ns: &str) -> String {
    format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: payments, namespace: {ns}}}
spec:
  project: default
  source: {{repoURL: "https://git.example.com/apps.git", path: payments, targetRevision: main}}
  destination: {{server: "https://kubernetes.default.svc", namespace: payments}}
  syncPolicy:
    automated: {{prune: true, selfHeal: true}}
"#
    )
}

/// POSTs a notification to the webhook; the answer, which must be a 200.
fn notify(url: &str, token: &str, status: &str, alertname: &str, fingerprint: &str) -> String {
    let body = alert_payload(status, alertname, fingerprint).to_string();
    let (code, answer) = post_json(url, Some(token), body.as_bytes());
    assert_eq!(code, 200, "{answer}");
    answer
}

#[tokio::test]
async fn examples_are_accepted_by_the_api_server() {
    let client = client().await;
    install_crds(&client).await;
    // Their namespaces exist for real (the dry run cannot create what others live in).
    let namespaces: Vec<String> = ["examples/namespace.yaml", "examples/automation.yaml"]
        .iter()
        .flat_map(|f| docs(&std::fs::read_to_string(repo_path(f)).expect("example")))
        .filter(|d| d["kind"] == "Namespace")
        .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    for ns in &namespaces {
        let (ok, out) = kubectl(&["create", "namespace", ns], "");
        assert!(ok || out.contains("AlreadyExists"), "{out}");
    }
    for file in [
        "examples/namespace.yaml",
        "examples/automation.yaml",
        "examples/policies/prod-admin.yaml",
        "examples/policy-account-assignment.yaml",
        "examples/grant.yaml",
        "examples/grant-account-assignment.yaml",
        "examples/argocd/policies-application.yaml",
        "examples/argocd/argocd-cm.yaml",
    ] {
        let (ok, out) = kubectl(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                // Other tests apply the same cluster-scoped policies with their own values;
                // a dry run that takes their fields over changes nothing.
                "--force-conflicts",
                "--field-manager",
                "examples-test",
                "-f",
                &repo_path(file).display().to_string(),
            ],
            "",
        );
        assert!(ok, "{file} refused:\n{out}");
    }
}

/// How many grants a webhook answer lists under `key`.
fn count(answer: &str, key: &str) -> usize {
    serde_json::from_str::<Value>(answer)
        .ok()
        .and_then(|v| v[key].as_array().map(Vec::len))
        .unwrap_or(0)
}

fn app_automated(ns: &str) -> Value {
    let (ok, out) = kubectl(
        &[
            "get",
            "applications.argoproj.io",
            "payments",
            "-n",
            ns,
            "-o",
            "json",
        ],
        "",
    );
    assert!(ok, "{out}");
    serde_json::from_str::<Value>(&out).expect("json")["spec"]["syncPolicy"]["automated"].clone()
}

#[tokio::test]
async fn the_controller_works_with_only_the_charts_rbac_and_reports_metrics() {
    let s = Scenario::new("rbac").await;
    let release = format!("r{}", &s.ns[s.ns.len() - 8..]);
    let fullname = format!("{release}-breakglass-operator");
    let token = format!("tok-{}", s.ns);

    // The chart's identity and RBAC, applied for real (the Deployment cannot run here).
    // The webhook writes as its own ServiceAccount, allowed grants in this namespace and
    // request-on-behalf under this policy only.
    let rbac = render(
        &release,
        &s.ns,
        &[
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
            "--set",
            &format!("webhook.grantNamespaces={{{}}}", s.ns),
            "--set",
            &format!("webhook.alertPolicies={{{}}}", s.policy),
        ],
    );
    let (ok, out) = kubectl(&["apply", "-f", "-"], &rbac);
    assert!(ok, "{out}");
    // The chart's requester policy too, bound to this test's namespace only: grants by hand
    // and the webhook's alert-opened grants must pass it.
    let (ok, out) = kubectl(
        &["label", "namespace", &s.ns, &format!("vap-test={}", s.ns)],
        "",
    );
    assert!(ok, "{out}");
    let vap = render(
        &release,
        &s.ns,
        &[
            "--show-only",
            "templates/admission-policy.yaml",
            "--set",
            &format!(
                "admissionPolicy.namespaceSelector.matchLabels.vap-test={}",
                s.ns
            ),
        ],
    );
    let (ok, out) = kubectl(&["apply", "-f", "-"], &vap);
    assert!(ok, "{out}");
    // In force once it refuses a grant that names someone else as the requester.
    let refused = eventually(SOON, || async {
        let (ok, out) = kubectl(
            &["create", "--dry-run=server", "-f", "-"],
            &serde_json::to_string(&object(
                "BreakGlassGrant",
                "not-me",
                Some(&s.ns),
                json!({"policy": s.policy, "user": ALICE, "requestedBy": "someone-else",
                       "reason": "x", "incident": {"id": "INC-0"}}),
            ))
            .expect("json"),
        );
        (!ok && out.contains("spec.requestedBy must be your own")).then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "the chart's admission policy is in force"
    );
    let dir = repo_path(&format!("target/test-logs/{}-rbac", s.ns));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = dir.join("kubeconfig");
    service_account_kubeconfig(&s.client, &s.ns, &fullname, &kubeconfig).await;

    // Not an admin: it cannot even read Secrets in its own namespace.
    let as_operator = client_from(&kubeconfig).await;
    let secrets: Api<Secret> = Api::namespaced(as_operator.clone(), &s.ns);
    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 403, "{e:?}"),
        other => panic!("the operator's identity can list Secrets: {other:?}"),
    }

    // A policy that pauses an Argo CD Application, and a Secret the chart's RBAC does not
    // cover (a forbidden target must not keep the Application from being paused), and
    // answers an alert.
    let alertname = format!("RbacTest{}", s.ns.replace('-', ""));
    let (ok, out) = kubectl(&["apply", "-f", "-"], &application_yaml(&s.ns));
    assert!(ok, "{out}");
    policies_raw(&s.client)
        .patch(
            &s.policy,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {
                "pause": [
                    {"annotation": {"apiVersion": "v1", "kind": "Secret", "namespace": s.ns,
                                    "names": ["db-creds"], "key": "example.com/frozen", "value": "true"}},
                    {"argoCD": {"namespace": s.ns, "names": ["payments"]}},
                ],
                "alerts": [{"matchers": [format!("alertname=\"{alertname}\"")],
                            "userLabel": "breakglass_user", "namespace": s.ns}],
            }})),
        )
        .await
        .expect("policy");

    let token_file = dir.join("token");
    std::fs::write(&token_file, &token).expect("token");
    let (port, admin_port) = (free_port(), free_port());
    let kubeconfig_env = kubeconfig.display().to_string();
    let webhook_user = format!("system:serviceaccount:{}:{fullname}-webhook", s.ns);
    let controller = ControllerProcess::start_logged(
        &s.ns,
        &format!("{}-rbac", s.ns),
        &[("KUBECONFIG", &kubeconfig_env)],
        &[
            "--leader-elect",
            "--lease-name",
            &fullname,
            "--lease-namespace",
            &s.ns,
            "--webhook-addr",
            &format!("127.0.0.1:{port}"),
            "--webhook-token-file",
            &token_file.display().to_string(),
            "--admin-addr",
            &format!("127.0.0.1:{admin_port}"),
            "--webhook-impersonate",
            &webhook_user,
        ],
    );
    let metrics_url = format!("http://127.0.0.1:{admin_port}/metrics");
    let metrics = || get_text(&metrics_url);
    eventually(SOON, || async {
        (try_metric(&metrics(), "breakglass_leader") == Some(1.0)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("never led; log: {}", controller.log_text()));

    // Policies get a verdict: Ready with the generation it judged.
    let broken = unique_name("broken", &s.ns);
    s.create_policy(&broken, |spec| {
        spec["alerts"] = json!([{"matchers": ["alertname=~\"(unclosed\""], "userLabel": "user", "namespace": s.ns}]);
    })
    .await;
    for (name, ready, reason) in [
        (&s.policy, "True", "Valid"),
        (&broken, "False", "InvalidMatcher"),
    ] {
        eventually(SOON, || async {
            let p = policies_raw(&s.client).get(name).await.ok()?;
            let generation = p.metadata.generation;
            let status = p.data.get("status")?;
            let cond = status["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Ready")?;
            (status["observedGeneration"].as_i64() == generation
                && cond["status"] == ready
                && cond["reason"] == reason)
                .then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("policy {name} never got Ready={ready} ({reason})"));
    }

    // A grant by hand: access, pause, events; then resolved: revoked and restored.
    s.create_grant("by-hand", |_| {}).await;
    s.wait_phase("by-hand", GrantPhase::Active, SOON).await;
    // The pause intent is recorded (already Active) before the patches; the condition
    // follows them.
    let active = eventually(SOON, || async {
        let g = s.grants().get("by-hand").await.ok()?;
        condition(&g, "AutomationPaused").is_some().then_some(g)
    })
    .await
    .expect("AutomationPaused set");
    assert_eq!(s.members().await, vec![s.alice.clone()]);
    assert_eq!(app_automated(&s.ns)["enabled"], false);
    let status = active.status.as_ref().expect("status");
    let secret = status
        .paused_targets
        .iter()
        .find(|t| t.name == "db-creds")
        .expect("the forbidden target has its own entry");
    assert_eq!(
        (secret.state, secret.reason),
        (PauseState::Failed, Some(PauseProblem::Forbidden)),
        "{secret:?}"
    );
    let why = secret.message.as_deref().unwrap_or_default();
    assert!(
        why.contains(r#"{apiGroups: [""], resources: ["secrets"]}"#)
            && why.contains("rbac.pauseTargets"),
        "the message names the missing rule: {why}"
    );
    let paused = status
        .conditions
        .iter()
        .find(|c| c.type_ == "AutomationPaused")
        .expect("AutomationPaused");
    assert_eq!(
        (paused.status.as_str(), paused.reason.as_str()),
        ("True", "PauseFailed")
    );
    assert!(
        paused
            .message
            .starts_with("1 paused, 0 skipped, 0 not found, 0 changed by others, 1 failed"),
        "{}",
        paused.message
    );
    event_reasons(&s.client, &s.ns, "by-hand", &["Granted", "Paused"])
        .await
        .expect("events recorded under the chart's RBAC");
    // Gauges come from the controller's cache, which may trail what the test just read.
    let active_series = format!("breakglass_active_grants{{policy=\"{}\"}}", s.policy);
    let paused_series = "breakglass_paused_targets{kind=\"Application\"}";
    assert_eq!(scrape_settled(&metrics_url, &active_series, 1.0).await, 1.0);
    assert_eq!(scrape_settled(&metrics_url, paused_series, 1.0).await, 1.0);
    s.resolve("by-hand").await;
    let ended = s.wait_phase("by-hand", GrantPhase::Ended, SOON).await;
    assert!(s.members().await.is_empty());
    let never = ended
        .status
        .as_ref()
        .and_then(|st| st.paused_targets.iter().find(|t| t.name == "db-creds"))
        .map(|t| t.state);
    assert_eq!(
        never,
        Some(PauseState::NotPaused),
        "nothing to restore there"
    );
    assert_eq!(
        app_automated(&s.ns),
        json!({"prune": true, "selfHeal": true})
    );

    // An alert opens one (the webhook creates it), and its resolution ends it.
    let url = format!("http://127.0.0.1:{port}/v1/alertmanager");
    // Unique per run: a resolution reaches every grant of the same firing, cluster-wide.
    let fingerprint = format!("{:0>16}", s.ns.replace('-', "")[4..].to_owned());
    let answer = notify(&url, &token, "firing", &alertname, &fingerprint);
    assert_eq!(count(&answer, "created"), 1, "{answer}");
    let alert_grant = s
        .grants()
        .list(&ListParams::default().labels("breakglass.dev/source=alertmanager"))
        .await
        .expect("grants")
        .items
        .into_iter()
        .next()
        .and_then(|g| g.metadata.name)
        .expect("the webhook created a grant");
    let opened = s.wait_phase(&alert_grant, GrantPhase::Active, SOON).await;
    assert_eq!(
        opened.spec.requested_by.as_deref(),
        Some(webhook_user.as_str()),
        "opened by the webhook's own ServiceAccount"
    );
    let answer = notify(&url, &token, "resolved", &alertname, &fingerprint);
    assert_eq!(count(&answer, "resolved"), 1, "{answer}");
    s.wait_phase(&alert_grant, GrantPhase::Ended, SOON).await;
    assert!(s.members().await.is_empty());

    // The counters moved; the gauges went back to zero.
    let after = metrics();
    for (series, at_least) in [
        ("breakglass_reconciles_total", 4.0),
        ("breakglass_grant_latency_seconds_count", 2.0),
        (
            "breakglass_revoke_latency_seconds_count{reason=\"Resolved\"}",
            2.0,
        ),
        (
            "breakglass_aws_calls_total{service=\"identitystore\",operation=\"CreateGroupMembership\",outcome=\"ok\"}",
            2.0,
        ),
        (
            "breakglass_aws_calls_total{service=\"identitystore\",operation=\"DeleteGroupMembership\",outcome=\"ok\"}",
            2.0,
        ),
        (
            "breakglass_aws_calls_total{service=\"sts\",operation=\"AssumeRole\",outcome=\"ok\"}",
            1.0,
        ),
        ("breakglass_webhook_requests_total{outcome=\"ok\"}", 2.0),
        (
            "breakglass_grants_created_total{source=\"alertmanager\"}",
            1.0,
        ),
    ] {
        assert!(
            metric(&after, series) >= at_least,
            "{series} < {at_least}:\n{after}"
        );
    }
    assert_eq!(scrape_settled(&metrics_url, &active_series, 0.0).await, 0.0);
    assert_eq!(scrape_settled(&metrics_url, paused_series, 0.0).await, 0.0);
    // The AWS permissions in examples/aws/ cover every call the lifecycle made.
    let allowed = iam_actions(&[
        "examples/aws/breakglass-role-policy.json",
        "examples/aws/operator-role-policy.json",
        "examples/aws/breakglass-role-policy-session-guard.json",
    ]);
    let made = aws_operations(&after);
    assert!(made.len() >= 5, "{made:?}");
    for (service, operation) in &made {
        let action = format!("{service}:{operation}");
        assert!(
            allowed.contains(&action),
            "{action} is not in the example IAM policies"
        );
    }
    assert!(
        !controller.log_text().contains("forbidden"),
        "a request was refused: {}",
        controller.log_text()
    );
}
