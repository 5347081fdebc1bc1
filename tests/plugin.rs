//! `kubectl breakglass` as people use it: the binary installed as `kubectl-breakglass` on
//! PATH, called through the real kubectl, as distinct people (`--as`), against the real API
//! server with the requester admission policy, a real controller and moto.

mod common;

use std::path::PathBuf;

use breakglass::api::{BreakGlassGrant, GrantPhase};
use common::{people::*, *};
use kube::{Api, api::ListParams};
use serde_json::{Value, json};

/// A directory holding `kubectl-breakglass` (a symlink to the built binary), as
/// `make install` leaves it.
fn plugin_dir(ns: &str) -> PathBuf {
    let dir = repo_path(&format!("target/test-logs/{ns}-plugin"));
    std::fs::create_dir_all(&dir).expect("dir");
    let link = dir.join("kubectl-breakglass");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_breakglass"), &link).expect("symlink");
    dir
}

/// `kubectl breakglass ARGS`: exit code and combined output.
fn kubectl_breakglass(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let mut cmd = tool("kubectl");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path).arg("breakglass").args(args);
    let out = cmd.output().expect("kubectl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn a_person_requests_follows_resolves_and_reports_with_kubectl() {
    let s = Scenario::new("plugin").await;
    rbac(&s, &[ALICE, BOB], &[]).await;
    install_policy(&s, "").await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    let dir = plugin_dir(&s.ns);
    let ns = s.ns.as_str();
    let run = |args: &[&str]| kubectl_breakglass(&dir, args);

    // Alice asks for herself and waits: she is told when and how to use it.
    let (code, out) = run(&[
        "request",
        "--policy",
        &s.policy,
        "--reason",
        "checkout 5xx",
        "--incident",
        "INC-9",
        "--duration",
        "30m",
        "--wait",
        "-n",
        ns,
        "--as",
        ALICE,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Active:")
            && out.contains(&format!("{ALICE} is in Identity Store group {GROUP}")),
        "{out}"
    );
    assert!(
        out.contains("kubectl breakglass resolve inc-9-alice-"),
        "{out}"
    );
    let grants: Vec<BreakGlassGrant> = Api::namespaced(s.client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("grants")
        .items;
    assert_eq!(grants.len(), 1);
    let g = &grants[0];
    let name = g.metadata.name.clone().unwrap_or_default();
    assert!(name.starts_with("inc-9-alice-"), "{name}");
    assert_eq!(
        (g.spec.user.as_str(), g.spec.requested_by.as_deref()),
        (ALICE, Some(ALICE)),
        "user and requestedBy come from the caller's identity"
    );
    assert_eq!(s.members().await, vec![s.alice.clone()]);

    // Lists: a table, and JSON for scripts.
    let (code, table) = run(&["list", "-n", ns, "--as", ALICE]);
    assert_eq!(code, 0, "{table}");
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.split_whitespace().collect::<Vec<_>>()
            == [
                "NAME",
                "USER",
                "POLICY",
                "PHASE",
                "EXPIRES",
                "IN",
                "REQUESTED",
                "BY"
            ],
        "{table}"
    );
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains(&name) && row.contains("Active") && row.ends_with(ALICE),
        "{table}"
    );
    let (code, json_out) = run(&["list", "-n", ns, "-o", "json", "--as", ALICE]);
    assert_eq!(code, 0, "{json_out}");
    let listed: Value = serde_json::from_str(&json_out).expect("list -o json is JSON");
    assert_eq!(listed[0]["spec"]["requestedBy"], json!(ALICE));

    let (code, status) = run(&["status", &name, "-n", ns, "--as", ALICE]);
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains(&format!("Requested by: {ALICE}")),
        "{status}"
    );
    assert!(
        status.contains("CloudTrail:   session breakglass@"),
        "{status}"
    );
    assert!(status.contains(&format!("group {GROUP}")), "{status}");

    // Bob may not ask for Alice: the admission policy's message, exit code 1.
    let (code, refused) = run(&[
        "request", "--policy", &s.policy, "--reason", "r", "--for", ALICE, "-n", ns, "--as", BOB,
    ]);
    assert_eq!(code, 1, "{refused}");
    assert!(refused.contains("only for yourself"), "{refused}");

    // A request the policy denies: exit code 3 with the denial's message.
    let (code, denied) = run(&[
        "request",
        "--policy",
        &s.policy,
        "--reason",
        "r",
        "--duration",
        "20h",
        "--wait",
        "-n",
        ns,
        "--as",
        ALICE,
    ]);
    assert_eq!(code, 3, "{denied}");
    assert!(denied.contains("exceeds the maximum"), "{denied}");

    // Usage errors: exit code 2.
    let (code, usage) = run(&["request", "--reason", "no policy"]);
    assert_eq!(code, 2, "{usage}");

    // Resolve, then the report: who asked, what happened, the CloudTrail session.
    let (code, out) = run(&["resolve", &name, "-n", ns, "--as", ALICE]);
    assert_eq!(code, 0, "{out}");
    s.wait_phase(&name, GrantPhase::Ended, SOON).await;
    let (code, report) = run(&["report", &name, "-n", ns, "-o", "json", "--as", ALICE]);
    assert_eq!(code, 0, "{report}");
    let r: Value = serde_json::from_str(&report).expect("report -o json is JSON");
    let events: Vec<&str> = r["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    for want in ["Requested", "Granted", "Ended"] {
        assert!(events.contains(&want), "{want} missing: {events:?}");
    }
    assert!(
        r["cloudtrailSession"]
            .as_str()
            .is_some_and(|s| s.starts_with("breakglass@")),
        "{r}"
    );
    let (code, md) = run(&["report", &name, "-n", ns, "--as", ALICE]);
    assert_eq!(code, 0, "{md}");
    assert!(md.contains(&format!("{ALICE} asked for {ALICE}")), "{md}");
    assert!(md.contains("| time (UTC) | event | detail |"), "{md}");
}
