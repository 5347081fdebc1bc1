use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn files(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata: {mode: normal}\n";
const DEPLOY: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\n---\n# a comment only\n";

#[test]
fn plain_manifests_render_recursively_and_are_labelled() {
    let f = files(&[
        ("deploy/app/cm.yaml", CM),
        ("deploy/app/nested/api.yml", DEPLOY),
        ("deploy/app/README.md", "not yaml"),
        ("deploy/app/values.yaml", "replicas: 2\n"),
        ("deploy/other/x.yaml", CM),
    ]);
    let objs = render(&f, "./deploy/app/", "infra", "flux-system").unwrap();
    let names: Vec<String> = objs.iter().map(|o| ObjRef::of(o).to_string()).collect();
    assert_eq!(names, ["ConfigMap shop/app", "Deployment shop/api"]);
    assert_eq!(
        objs[0]["metadata"]["labels"],
        json!({NAME_LABEL: "infra", NAMESPACE_LABEL: "flux-system"})
    );
    assert_eq!(ObjRef::of(&objs[1]).group, "apps");
    assert_eq!(
        render(&f, "./missing", "k", "ns"),
        Err(RenderError::NoPath("./missing".into()))
    );
    assert!(render(&f, "../..", "k", "ns").is_err());
}

#[test]
fn a_kustomization_file_with_resources_only_is_followed_and_anything_else_refused() {
    let f = files(&[
        (
            "app/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml, ../shared]\n",
        ),
        ("app/cm.yaml", CM),
        ("app/ignored.yaml", DEPLOY),
        ("shared/api.yaml", DEPLOY),
    ]);
    let objs = render(&f, "app", "k", "ns").unwrap();
    assert_eq!(objs.len(), 2, "{objs:?}");
    let patched = files(&[
        (
            "kustomization.yaml",
            "resources: [cm.yaml]\nnamePrefix: x-\n",
        ),
        ("cm.yaml", CM),
    ]);
    let refused = render(&patched, "./", "k", "ns");
    assert!(
        matches!(&refused, Err(RenderError::Unsupported { what, .. }) if what == "`namePrefix`"),
        "{refused:?}"
    );
    let remote = files(&[(
        "kustomization.yaml",
        "resources: [https://example.invalid/x]\n",
    )]);
    assert!(render(&remote, "", "k", "ns").is_err());
}

#[test]
fn spec_transforms_source_and_inventory_are_read() {
    let ks = json!({
        "metadata": {"name": "infra", "namespace": "flux-system"},
        "spec": {"sourceRef": {"kind": "Bucket", "name": "b"}, "prune": true, "patches": [{}]},
        "status": {"inventory": {"entries": [
            {"id": "shop_app__ConfigMap", "v": "v1"},
            {"id": "shop_api_apps_Deployment", "v": "v1"},
            {"id": "_shop__Namespace", "v": "v1"},
        ]}},
    });
    assert_eq!(unrendered(&ks), ["patches"]);
    assert_eq!(
        source_ref(&ks),
        Some((
            "source.toolkit.fluxcd.io/v1".into(),
            "Bucket".into(),
            "flux-system".into(),
            "b".into()
        ))
    );
    let inv = inventory(&ks);
    assert_eq!(inv[0].1, "v1");
    assert_eq!(inv[1].1, "apps/v1");
    assert_eq!(inv[2].0.namespace, None);
    assert_eq!(inv[2].0.to_string(), "Namespace shop");
    assert!(prunable(&ks, &json!({})));
    let kept = json!({"metadata": {"annotations": {PRUNE_ANNOTATION: "disabled"}}});
    assert!(!prunable(&ks, &kept));
    let source = json!({"status": {"artifact": {"url": "http://a/b.tar.gz", "revision": "sha256:1", "digest": "sha256:2"}}});
    assert_eq!(artifact(&source).unwrap().revision, "sha256:1");
}

#[test]
fn changes_ignore_bookkeeping_and_name_fields() {
    let live = json!({"metadata": {"name": "app", "resourceVersion": "1", "managedFields": [
        {"manager": "kustomize-controller", "operation": "Apply"},
        {"manager": "kubectl-edit", "operation": "Update"},
        {"manager": "kubectl-patch", "operation": "Update"},
        {"manager": "kubectl-edit", "operation": "Apply"},
        {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status"},
    ]}, "data": {"mode": "hotfix", "extra": "1"}, "spec": {"ports": [1, 2]}});
    let mut after = live.clone();
    after["metadata"]["resourceVersion"] = "2".into();
    after["metadata"]["managedFields"] = json!([]);
    assert!(changes(&live, &after).is_empty());
    after["data"]["mode"] = "normal".into();
    after["spec"]["ports"] = json!([1, 3]);
    assert_eq!(changes(&live, &after), ["data.mode", "spec.ports[1]"]);
    assert_eq!(
        writers(&live, "breakglass"),
        ["kubectl-edit", "kubectl-patch"],
        "each writer once"
    );
}

#[test]
fn assess_is_in_sync_only_when_nothing_would_change() {
    let r = |name: &str| ObjRef {
        group: String::new(),
        kind: "ConfigMap".into(),
        namespace: Some("shop".into()),
        name: name.into(),
    };
    let same = assess("rev1", &[(r("a"), Outcome::Unchanged)]);
    assert_eq!(same.in_sync, Some(true), "{}", same.summary);
    let changed = assess(
        "rev1",
        &[
            (r("a"), Outcome::Unchanged),
            (
                r("b"),
                Outcome::Changes {
                    paths: vec!["data.mode".into()],
                    writers: vec!["kubectl-edit".into()],
                },
            ),
            (r("c"), Outcome::Unknown("forbidden".into())),
        ],
    );
    assert_eq!(changed.in_sync, Some(false));
    assert_eq!(changed.resources.len(), 2);
    assert!(
        changed.resources[0].status.contains("kubectl-edit"),
        "{:?}",
        changed.resources
    );
    assert!(
        changed.summary.contains("ConfigMap shop/b"),
        "{}",
        changed.summary
    );
    let unknown = assess(
        "rev1",
        &[
            (r("a"), Outcome::Unchanged),
            (r("c"), Outcome::Unknown("x".into())),
        ],
    );
    assert_eq!(unknown.in_sync, None);
    for o in [Outcome::Missing, Outcome::Pruned] {
        assert_eq!(assess("rev1", &[(r("a"), o)]).in_sync, Some(false));
    }
}
