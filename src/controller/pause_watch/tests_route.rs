use super::*;
use crate::api::{PauseMethod, PauseState, PausedTarget};

fn meta(
    name: &str,
    generation: i64,
    annotations: &[(&str, &str)],
) -> PartialObjectMeta<DynamicObject> {
    PartialObjectMeta {
        types: None,
        _phantom: std::marker::PhantomData,
        metadata: ObjectMeta {
            namespace: Some("argocd".into()),
            name: Some(name.into()),
            generation: Some(generation),
            resource_version: Some(format!("{generation}{}", annotations.len())),
            labels: Some([("team".to_owned(), "payments".to_owned())].into()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
    }
}

fn names(changes: &[Changed]) -> Vec<&str> {
    changes.iter().map(|c| c.name.as_str()).collect()
}

#[test]
fn only_real_changes_count_and_a_relist_reports_what_was_missed() {
    use watcher::Event::*;
    let mut seen = Seen::default();
    assert!(seen.observe(Init).is_empty());
    for name in ["a", "b"] {
        assert!(
            seen.observe(InitApply(meta(name, 1, &[]))).is_empty(),
            "the first list only learns what is there"
        );
    }
    assert!(seen.observe(InitDone).is_empty());
    assert!(
        seen.observe(Apply(meta("a", 1, &[]))).is_empty(),
        "same generation, labels and annotations: nothing a pause depends on"
    );
    let edited = seen.observe(Apply(meta("a", 2, &[])));
    assert_eq!(names(&edited), ["a"], "the spec changed");
    assert!(
        seen.observe(Apply(meta("a", 2, &[(PAUSED_BY, "ns/g1, ns/g2")])))
            .is_empty(),
        "one more grant joining the pause wakes none of its holders"
    );
    let skipped = seen.observe(Apply(meta(
        "a",
        2,
        &[
            (PAUSED_BY, "ns/g1, ns/g2"),
            ("argocd.argoproj.io/skip-reconcile", "true"),
        ],
    )));
    assert_eq!(
        names(&skipped),
        ["a"],
        "an annotation a method pauses with counts"
    );
    assert_eq!(skipped[0].paused_by, ["ns/g1", "ns/g2"]);
    assert_eq!(
        names(&seen.observe(Apply(meta("c", 1, &[])))),
        ["c"],
        "created"
    );
    assert_eq!(names(&seen.observe(Delete(meta("c", 1, &[])))), ["c"]);

    // The watch was lost: a relist shows the edit to `b` and the deletion of `a` it missed.
    assert!(seen.observe(Init).is_empty());
    assert_eq!(names(&seen.observe(InitApply(meta("b", 2, &[])))), ["b"]);
    assert_eq!(names(&seen.observe(InitApply(meta("d", 1, &[])))), ["d"]);
    assert_eq!(names(&seen.observe(InitDone)), ["a"], "deleted meanwhile");
    assert!(seen.observe(Apply(meta("d", 1, &[]))).is_empty());
}

#[test]
fn a_relist_reports_objects_created_while_the_kind_had_none() {
    use watcher::Event::*;
    let mut seen = Seen::default();
    assert!(seen.observe(Init).is_empty());
    assert!(seen.observe(InitDone).is_empty());
    assert!(seen.observe(Init).is_empty());
    assert_eq!(
        names(&seen.observe(InitApply(meta("new", 1, &[])))),
        ["new"]
    );
}

fn target(name: &str) -> TargetRef {
    TargetRef {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        namespace: Some("argocd".into()),
        name: name.into(),
    }
}

fn grant(
    name: &str,
    policy: &str,
    phase: GrantPhase,
    holds: Option<(&str, PauseState)>,
) -> Arc<BreakGlassGrant> {
    let mut g: BreakGlassGrant =
        serde_yaml::from_str(include_str!("../../../tests/fixtures/grant-active.yaml"))
            .expect("fixture");
    g.metadata.name = Some(name.into());
    g.spec.policy = policy.into();
    let status = g.status.as_mut().expect("status");
    status.phase = Some(phase);
    status.paused_targets = holds
        .map(|(app, state)| {
            let t = target(app);
            PausedTarget {
                api_version: t.api_version,
                kind: t.kind,
                namespace: t.namespace,
                name: t.name,
                method: PauseMethod::DisableAutoSync,
                path: None,
                original: None,
                paused: None,
                state,
                restore: None,
                drift: None,
                reason: None,
                message: None,
            }
        })
        .into_iter()
        .collect();
    Arc::new(g)
}

fn change(name: &str, paused_by: &[&str], team: &str) -> Changed {
    Changed {
        namespace: Some("argocd".into()),
        name: name.into(),
        labels: [("team".to_owned(), team.to_owned())].into(),
        paused_by: paused_by.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn policies(policy: &str) -> Vec<Selection> {
    let entry = match policy {
        "by-name" => serde_json::json!({"argoCD": {"namespace": "argocd", "names": ["payments"]}}),
        "by-label" => {
            serde_json::json!({"argoCD": {"namespace": "argocd", "selector": {"matchLabels": {"team": "payments"}}}})
        }
        _ => return vec![],
    };
    let mut spec: serde_json::Value = serde_yaml::from_str::<serde_json::Value>(include_str!(
        "../../../tests/fixtures/policy.yaml"
    ))
    .expect("fixture")["spec"]
        .clone();
    spec["pause"] = serde_json::json!([entry]);
    crate::pause::selections(&serde_json::from_value(spec).expect("spec"))
}

fn keys(refs: Vec<ObjectRef<BreakGlassGrant>>) -> Vec<String> {
    let mut names: Vec<String> = refs.into_iter().map(|r| r.name).collect();
    names.sort();
    names
}

#[test]
fn a_change_reconciles_the_grants_it_concerns_and_no_other() {
    let grants = [
        // Holds it; its annotations were stripped, so only its record says so.
        grant(
            "holder",
            "other",
            GrantPhase::Active,
            Some(("payments", PauseState::Paused)),
        ),
        // Ended and restored: nothing left to do with it.
        grant(
            "done",
            "other",
            GrantPhase::Ended,
            Some(("payments", PauseState::Restored)),
        ),
        // Ended, holds it for review.
        grant(
            "held",
            "other",
            GrantPhase::Ended,
            Some(("payments", PauseState::Held)),
        ),
        // Its policy names it: a new object to pause.
        grant("named", "by-name", GrantPhase::Active, None),
        grant("labelled", "by-label", GrantPhase::Active, None),
        grant("waiting", "by-label", GrantPhase::Pending, None),
        grant(
            "unrelated",
            "other",
            GrantPhase::Active,
            Some(("billing", PauseState::Paused)),
        ),
        grant("denied", "by-name", GrantPhase::Denied, None),
    ];
    assert_eq!(
        keys(concerned(
            &target("payments"),
            &change("payments", &[], "payments"),
            &grants,
            policies
        )),
        ["held", "holder", "labelled", "named", "waiting"]
    );
    assert_eq!(
        keys(concerned(
            &target("search"),
            &change("search", &["incidents/done"], "search"),
            &grants,
            policies
        )),
        ["done"],
        "paused-by names the holders, whatever their records say"
    );
    assert!(
        concerned(
            &target("search"),
            &change("search", &[], "search"),
            &grants,
            policies
        )
        .is_empty(),
        "an object no grant holds or selects reconciles nothing"
    );
}

fn policy(name: &str, pause: serde_json::Value) -> Arc<BreakGlassPolicy> {
    let mut p: BreakGlassPolicy =
        serde_yaml::from_str(include_str!("../../../tests/fixtures/policy.yaml")).expect("fixture");
    p.metadata.name = Some(name.into());
    p.spec.0.pause = serde_json::from_value(pause).expect("pause entries");
    Arc::new(p)
}

#[test]
fn only_kinds_the_open_grants_policies_pause_are_watched() {
    let policies = [
        policy(
            "argo",
            serde_json::json!([{"argoCD": {"namespace": "argocd", "names": ["a"]}}]),
        ),
        policy(
            "flux",
            serde_json::json!([{"flux": {"kind": "Kustomization", "names": ["k"]}}]),
        ),
        // Another installation's policy, for a kind this one may have no RBAC for.
        policy(
            "secrets",
            serde_json::json!([{"annotation": {"apiVersion": "v1", "kind": "Secret", "names": ["s"], "namespace": "x", "key": "k", "value": "v"}}]),
        ),
    ];
    let grants = [
        grant("active", "argo", GrantPhase::Active, None),
        grant(
            "ended",
            "flux",
            GrantPhase::Ended,
            Some(("payments", PauseState::Restored)),
        ),
    ];
    let application = WatchedKind::new("argoproj.io/v1alpha1", "Application");
    assert_eq!(wanted(&policies, &grants), [application.clone()].into());
    let held = grant(
        "held",
        "flux",
        GrantPhase::Ended,
        Some(("payments", PauseState::Held)),
    );
    assert_eq!(
        wanted(&policies, &[grants[0].clone(), held]),
        [
            application,
            WatchedKind::new("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
        ]
        .into()
    );
    assert!(wanted(&policies, &[]).is_empty(), "no grant, no watch");
}
