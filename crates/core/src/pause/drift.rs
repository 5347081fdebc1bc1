//! End state, pure: what a target's automation would change if given back now (read from
//! the status its own controller writes), and whether to give it back. Argo CD: sync status
//! and OutOfSync resources; Flux: Ready and applied vs attempted revision (not assessed while
//! suspended: see [`super::flux`]); tofu-controller:
//! a pending plan; Crossplane and other kinds: Synced/Ready conditions where present.

use serde_json::Value;

use crate::{Drift, DriftResource, PauseMethod, RestoreMode};

fn text<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `(status, reason, message)` of condition `kind`.
fn condition<'a>(obj: &'a Value, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let c = obj
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?;
    let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
    Some((field("status"), field("reason"), field("message")))
}

fn drift(
    summary: impl Into<String>,
    in_sync: Option<bool>,
    resources: Vec<DriftResource>,
) -> Drift {
    Drift {
        summary: summary.into(),
        in_sync,
        resources,
    }
}

/// The drift of `obj`, paused with `method`.
pub fn assess(method: PauseMethod, obj: &Value) -> Drift {
    match method {
        PauseMethod::DisableAutoSync | PauseMethod::SkipReconcile => argo(obj),
        PauseMethod::Suspend => flux(obj),
        PauseMethod::PlanOnly => tofu(obj),
        PauseMethod::CrossplanePause | PauseMethod::Annotation => conditions(obj),
    }
}

fn argo(app: &Value) -> Drift {
    let Some(sync) = text(app, "/status/sync/status") else {
        return drift("Argo CD has not reported a sync status", None, vec![]);
    };
    let out_of_sync: Vec<DriftResource> = app
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("status").and_then(Value::as_str) == Some("OutOfSync"))
        .map(|r| {
            let s = |k: &str| {
                r.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            DriftResource {
                group: s("group"),
                kind: s("kind"),
                namespace: Some(s("namespace")).filter(|n| !n.is_empty()),
                name: s("name"),
                status: "OutOfSync".into(),
            }
        })
        .collect();
    match sync {
        "Synced" => drift("Synced: Git and the cluster agree", Some(true), vec![]),
        "OutOfSync" => drift(
            format!(
                "OutOfSync: {} resource(s) differ from Git; giving back auto-sync would apply Git over them",
                out_of_sync.len()
            ),
            Some(false),
            out_of_sync,
        ),
        other => drift(format!("sync status {other}"), None, out_of_sync),
    }
}

/// Flux's status. A suspended Kustomization is not reconciled, so its status is from before
/// the pause and says nothing about now: not assessed (the operator reads a suspended one
/// from the live objects instead, `flux::assess`).
fn flux(obj: &Value) -> Drift {
    let mut d = flux_status(obj);
    if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        d.in_sync = None;
        d.summary = format!(
            "not assessed: suspended, so kustomize-controller's status is from before the pause ({})",
            d.summary
        );
    }
    d
}

fn flux_status(obj: &Value) -> Drift {
    let applied = text(obj, "/status/lastAppliedRevision");
    let attempted = text(obj, "/status/lastAttemptedRevision");
    let Some((ready, reason, message)) = condition(obj, "Ready") else {
        return drift("Flux has not reported a Ready condition", None, vec![]);
    };
    if ready != "True" {
        return drift(
            format!("not Ready ({reason}): {message}"),
            Some(false),
            vec![],
        );
    }
    match (applied, attempted) {
        (Some(a), Some(t)) if a != t => drift(
            format!("revision {t} attempted but {a} applied: the next reconcile applies {t}"),
            Some(false),
            vec![],
        ),
        (Some(a), _) => drift(format!("Ready at revision {a}"), Some(true), vec![]),
        _ => drift(format!("Ready ({reason})"), Some(true), vec![]),
    }
}

fn tofu(obj: &Value) -> Drift {
    let pending = text(obj, "/status/plan/pending");
    let planned_changes = condition(obj, "Ready")
        .is_some_and(|(_, reason, _)| reason == "TerraformPlannedWithChanges");
    match pending {
        Some(plan) => drift(
            format!("plan {plan} has pending changes: approving it would apply them"),
            Some(false),
            vec![DriftResource {
                group: "infra.contrib.fluxcd.io".into(),
                kind: "Terraform".into(),
                namespace: text(obj, "/metadata/namespace").map(str::to_owned),
                name: text(obj, "/metadata/name").unwrap_or_default().to_owned(),
                status: format!("pending plan {plan}"),
            }],
        ),
        None if planned_changes => drift("the last plan has changes", Some(false), vec![]),
        None if condition(obj, "Ready").is_some() => {
            drift("no pending plan: nothing to apply", Some(true), vec![])
        }
        None => drift("tofu-controller has not planned yet", None, vec![]),
    }
}

fn conditions(obj: &Value) -> Drift {
    let synced = condition(obj, "Synced");
    let ready = condition(obj, "Ready");
    if synced.is_none() && ready.is_none() {
        return drift(
            "not assessed: the object reports no Synced or Ready condition",
            None,
            vec![],
        );
    }
    let bad: Vec<String> = [("Synced", synced), ("Ready", ready)]
        .into_iter()
        .filter_map(|(k, c)| {
            c.filter(|(s, _, _)| *s != "True")
                .map(|(s, r, _)| format!("{k}={s} ({r})"))
        })
        .collect();
    if bad.is_empty() {
        drift("Synced and Ready", Some(true), vec![])
    } else {
        drift(bad.join(", "), Some(false), vec![])
    }
}

/// `drift` as recorded: for Argo CD, whether it was asked to refresh (`refreshed`:
/// `Some(moved)`, `None` when not asked, as on a held target's re-check). With
/// skip-reconcile Argo CD does nothing at all, so unless it was just seen to refresh its
/// status is from before the pause: not assessed. A re-check keeps `old` when only the
/// note that Argo CD did not refresh differs, so the record does not flip back and forth.
pub fn qualify(
    method: PauseMethod,
    mut drift: Drift,
    refreshed: Option<bool>,
    waited: std::time::Duration,
    old: Option<&Drift>,
) -> Drift {
    if method == PauseMethod::SkipReconcile && refreshed != Some(true) {
        drift.in_sync = None;
        if !drift.summary.starts_with("not assessed") {
            drift.summary = format!(
                "not assessed: skip-reconcile stops Argo CD refreshing, so its status is from before the pause ({})",
                drift.summary
            );
        }
    }
    if refreshed == Some(false) {
        drift.summary.push_str(&format!(
            " (Argo CD did not refresh within {}s: this is its last reported status)",
            waited.as_secs()
        ));
    }
    if refreshed.is_none()
        && let Some(old) = old
        && old.in_sync == drift.in_sync
        && old.resources == drift.resources
        && old.summary.starts_with(&drift.summary)
    {
        return old.clone();
    }
    drift
}

/// Whether to give the target back now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Restore,
    /// Keep it paused; the reason says until when.
    Hold(String),
}

/// `asked`: a person said "restore now" (annotation or `kubectl breakglass restore`).
pub fn decide(mode: RestoreMode, drift: &Drift, asked: bool) -> Decision {
    match mode {
        RestoreMode::Auto => Decision::Restore,
        _ if asked => Decision::Restore,
        RestoreMode::WhenInSync if drift.in_sync == Some(true) => Decision::Restore,
        RestoreMode::WhenInSync => Decision::Hold(format!(
            "held until it reports no drift (codify the repair in Git or revert it), or kubectl breakglass restore: {}",
            drift.summary
        )),
        RestoreMode::Manual => Decision::Hold(format!(
            "held until a person gives it back (kubectl breakglass restore): {}",
            drift.summary
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../../tests/fixtures/drift/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn argo_out_of_sync_lists_the_resources() {
        let d = assess(
            PauseMethod::DisableAutoSync,
            &fixture("application-out-of-sync.yaml"),
        );
        assert_eq!(d.in_sync, Some(false));
        assert_eq!(d.resources.len(), 1);
        assert_eq!(
            (d.resources[0].kind.as_str(), d.resources[0].name.as_str()),
            ("Deployment", "api")
        );
        let mut synced = fixture("application-out-of-sync.yaml");
        synced["status"]["sync"]["status"] = "Synced".into();
        assert_eq!(
            assess(PauseMethod::SkipReconcile, &synced).in_sync,
            Some(true)
        );
        let bare = serde_json::json!({"spec": {}});
        assert_eq!(assess(PauseMethod::DisableAutoSync, &bare).in_sync, None);
    }

    #[test]
    fn flux_tofu_and_crossplane_say_what_their_status_says() {
        let mut k = fixture("kustomization-behind.yaml");
        k["spec"]["suspend"] = false.into();
        let d = assess(PauseMethod::Suspend, &k);
        assert_eq!(d.in_sync, Some(false), "{}", d.summary);
        let mut caught_up = k.clone();
        caught_up["status"]["lastAppliedRevision"] =
            caught_up["status"]["lastAttemptedRevision"].clone();
        assert_eq!(assess(PauseMethod::Suspend, &caught_up).in_sync, Some(true));
        let mut suspended = caught_up.clone();
        suspended["spec"]["suspend"] = true.into();
        let frozen = assess(PauseMethod::Suspend, &suspended);
        assert_eq!(frozen.in_sync, None, "{}", frozen.summary);
        assert!(
            frozen.summary.contains("before the pause"),
            "{}",
            frozen.summary
        );
        let t = assess(PauseMethod::PlanOnly, &fixture("terraform-pending.yaml"));
        assert_eq!(t.in_sync, Some(false));
        assert!(t.summary.contains("plan-main-1a2b3c"), "{}", t.summary);
        let x = assess(
            PauseMethod::CrossplanePause,
            &fixture("crossplane-unsynced.yaml"),
        );
        assert_eq!(x.in_sync, Some(false));
        assert!(x.summary.contains("Synced=False"), "{}", x.summary);
        let cm = serde_json::json!({"metadata": {"name": "c"}});
        assert_eq!(assess(PauseMethod::Annotation, &cm).in_sync, None);
    }

    #[test]
    fn skip_reconcile_is_not_assessed_unless_argo_refreshed_and_rechecks_do_not_flip() {
        let mut synced = fixture("application-out-of-sync.yaml");
        synced["status"]["sync"]["status"] = "Synced".into();
        let wait = std::time::Duration::from_secs(5);
        let read = || assess(PauseMethod::SkipReconcile, &synced);
        let first = qualify(PauseMethod::SkipReconcile, read(), Some(false), wait, None);
        assert_eq!(first.in_sync, None, "{}", first.summary);
        assert!(
            first.summary.contains("did not refresh"),
            "{}",
            first.summary
        );
        let again = qualify(PauseMethod::SkipReconcile, read(), None, wait, Some(&first));
        assert_eq!(again, first, "a held re-check keeps the record");
        let moved = qualify(PauseMethod::SkipReconcile, read(), Some(true), wait, None);
        assert_eq!(moved.in_sync, Some(true));
        let auto_sync = qualify(
            PauseMethod::DisableAutoSync,
            assess(PauseMethod::DisableAutoSync, &synced),
            Some(false),
            wait,
            None,
        );
        assert_eq!(
            auto_sync.in_sync,
            Some(true),
            "Argo CD keeps comparing: its status is live"
        );
    }

    #[test]
    fn each_mode_decides_as_documented() {
        let out = Drift {
            summary: "OutOfSync".into(),
            in_sync: Some(false),
            resources: vec![],
        };
        let unknown = Drift {
            in_sync: None,
            ..out.clone()
        };
        let synced = Drift {
            in_sync: Some(true),
            ..out.clone()
        };
        assert_eq!(decide(RestoreMode::Auto, &out, false), Decision::Restore);
        assert!(matches!(
            decide(RestoreMode::WhenInSync, &out, false),
            Decision::Hold(_)
        ));
        assert!(matches!(
            decide(RestoreMode::WhenInSync, &unknown, false),
            Decision::Hold(_)
        ));
        assert_eq!(
            decide(RestoreMode::WhenInSync, &synced, false),
            Decision::Restore
        );
        assert_eq!(
            decide(RestoreMode::WhenInSync, &out, true),
            Decision::Restore
        );
        assert!(matches!(
            decide(RestoreMode::Manual, &synced, false),
            Decision::Hold(_)
        ));
        assert_eq!(decide(RestoreMode::Manual, &out, true), Decision::Restore);
    }
}
