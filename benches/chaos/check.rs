//! The independent checker: it reads AWS from moto directly (not through the fault proxy)
//! and Kubernetes through kubectl, and knows nothing of the operator's code or records.
//! What it holds the world to, once the faults stop:
//! - every exclusive target (the group; each account's permission set) lists exactly the
//!   users of Active grants on it: more is a leak, fewer is access stuck on its way;
//! - no user is listed twice (a duplicate membership or assignment);
//! - every grant is Active, Denied or Ended, with a condition saying why;
//! - with no grant live, every paused object is back to its spec from before the campaign,
//!   with none of the operator's annotations.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{
    common::{objects::*, *},
    world::{ACCOUNTS, Kind, World},
};

/// kubectl from the pinned toolchain, resolved once.
pub struct Kubectl {
    program: std::ffi::OsString,
}

impl Kubectl {
    pub fn new() -> Self {
        Self {
            program: tool("kubectl").get_program().to_owned(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = std::process::Command::new(&self.program)
            .env("KUBECONFIG", kubeconfig_path())
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn json(&self, args: &[&str]) -> Result<Value, String> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.run(&all)?).map_err(|e| e.to_string())
    }
}

/// What the checker found; empty lists mean the world is as it must be.
#[derive(Default, Debug, Clone, serde::Serialize)]
pub struct Findings {
    pub leaks: Vec<String>,
    pub missing: Vec<String>,
    pub duplicates: Vec<String>,
    pub stuck_grants: Vec<String>,
    pub stuck_pauses: Vec<String>,
    /// The checker could not read the world (not a finding about the operator).
    pub unreadable: Vec<String>,
}

impl Findings {
    pub fn clean(&self) -> bool {
        self.leaks.is_empty()
            && self.missing.is_empty()
            && self.duplicates.is_empty()
            && self.stuck_grants.is_empty()
            && self.stuck_pauses.is_empty()
            && self.unreadable.is_empty()
    }
}

pub async fn check(w: &World, kubectl: &Kubectl) -> Findings {
    let mut f = Findings::default();
    let grants = match kubectl.json(&["get", "breakglassgrants", "-n", &w.s.ns]) {
        Ok(list) => list["items"].as_array().cloned().unwrap_or_default(),
        Err(e) => {
            f.unreadable.push(format!("grants: {e}"));
            return f;
        }
    };
    let active = |kind: Kind, account: Option<&str>| -> BTreeSet<String> {
        grants
            .iter()
            .filter(|g| g["status"]["phase"] == "Active")
            .filter(|g| g["spec"]["policy"] == w.policy(kind))
            .filter(|g| match (account, g["spec"]["accountIds"].as_array()) {
                (Some(a), Some(narrowed)) => narrowed.iter().any(|n| n == a),
                _ => true,
            })
            .filter_map(|g| g["spec"]["user"].as_str().map(str::to_owned))
            .collect()
    };
    let members: Vec<String> = w.s.aws.members(&w.s.group_id).await;
    compare(w, &mut f, "group", &active(Kind::Group, None), &members);
    for account in ACCOUNTS {
        let listed = w.s.aws.assigned_users(account, &w.permission_set).await;
        let want = active(Kind::Accounts, Some(account));
        compare(w, &mut f, &format!("account {account}"), &want, &listed);
    }
    for g in &grants {
        let name = g["metadata"]["name"].as_str().unwrap_or("?");
        let phase = g["status"]["phase"].as_str().unwrap_or("none");
        let ready = g["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready");
        match (phase, ready) {
            (_, None) => f
                .stuck_grants
                .push(format!("{name}: {phase}, no Ready condition")),
            ("Active" | "Denied" | "Ended", Some(_)) => {}
            (_, Some(c)) => f.stuck_grants.push(format!(
                "{name}: {phase}: {} {}",
                c["reason"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            )),
        }
    }
    let live = grants.iter().any(|g| {
        matches!(
            g["status"]["phase"].as_str(),
            Some("Active" | "Pending") | None
        )
    });
    if !live {
        for (what, kind, name, want) in [
            (
                "Application",
                "applications.argoproj.io",
                "payments",
                &w.app_spec,
            ),
            (
                "Kustomization",
                "kustomizations.kustomize.toolkit.fluxcd.io",
                "infra",
                &w.kustomization_spec,
            ),
        ] {
            match kubectl.json(&["get", kind, name, "-n", &w.s.ns]) {
                Ok(obj) => {
                    if &obj["spec"] != want {
                        f.stuck_pauses.push(format!(
                            "{what} {name}: spec {} is not the original {want}",
                            obj["spec"]
                        ));
                    }
                    let ours = our_annotations(&obj);
                    if !ours.is_empty() {
                        f.stuck_pauses
                            .push(format!("{what} {name}: still annotated {ours:?}"));
                    }
                }
                Err(e) => f.unreadable.push(format!("{what} {name}: {e}")),
            }
        }
    }
    f
}

/// `want` holds user names, `listed` Identity Store ids as AWS lists them.
fn compare(w: &World, f: &mut Findings, target: &str, want: &BTreeSet<String>, listed: &[String]) {
    let mut seen = BTreeSet::new();
    for id in listed {
        if !seen.insert(id.clone()) {
            f.duplicates
                .push(format!("{target}: {} listed twice", w.user_of(id)));
        }
    }
    let have: BTreeSet<String> = seen.iter().map(|id| w.user_of(id)).collect();
    for user in have.difference(want) {
        f.leaks.push(format!(
            "{target}: {user} has access without an Active grant"
        ));
    }
    for user in want.difference(&have) {
        f.missing.push(format!(
            "{target}: {user}'s Active grant has no access on AWS"
        ));
    }
}
