//! The CRDs against a real kube-apiserver (tests/env): they install, accept the examples,
//! reject invalid objects with a message per field, and keep spec and status apart.

mod common;

use breakglass::api::{
    BreakGlassGrant, BreakGlassGrantStatus, BreakGlassPolicy, GrantPhase, IncidentSource, Time,
};
use common::*;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams, PostParams},
};
use serde::Deserialize;
use serde_json::{Value, json};

fn valid_grant_spec(policy: &str) -> Value {
    json!({
        "policy": policy,
        "user": "alice@example.com",
        "requestedBy": "alice@example.com",
        "reason": "Checkout 5xx spike",
        "duration": "2h",
        "incident": {"id": "INC-1", "url": "https://incidents.example.com/INC-1"},
    })
}

fn valid_policy_spec() -> Value {
    json!({
        "eligibleUsers": ["alice@example.com"],
        "duration": {"default": "1h", "max": "8h"},
        "aws": {
            "identityStoreId": "d-1234567890",
            "roleArn": "arn:aws:iam::111111111111:role/breakglass-write",
        },
        "access": {"groupMembership": {"groupName": "breakglass-admins"}},
        "pause": [{"argoCD": {"names": ["payments"]}}],
        "alerts": [{
            "matchers": ["alertname=\"HighErrorRate\"", "severity=~\"critical|page\""],
            "userLabel": "breakglass_user",
            "namespace": "incidents",
        }],
    })
}

async fn setup(test: &str) -> (Client, String) {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, test).await;
    (client, ns)
}

/// Applies every document in an examples/ file; grants go into `ns`.
async fn apply_example(client: &Client, file: &str, ns: &str) -> Vec<DynamicObject> {
    let text = std::fs::read_to_string(repo_path(file)).expect("example file");
    let mut applied = vec![];
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(doc).expect("example YAML");
        let mut obj: DynamicObject = serde_yaml::from_value(value).expect("example object");
        let name = obj.metadata.name.clone().expect("example has a name");
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let result = match obj.types.as_ref().map(|t| t.kind.as_str()) {
            Some("BreakGlassPolicy") => {
                policies_raw(client)
                    .patch(&name, &params, &Patch::Apply(&obj))
                    .await
            }
            Some("BreakGlassGrant") => {
                obj.metadata.namespace = Some(ns.to_owned());
                grants_raw(client, ns)
                    .patch(&name, &params, &Patch::Apply(&obj))
                    .await
            }
            other => panic!("unexpected kind {other:?} in {file}"),
        };
        applied.push(result.unwrap_or_else(|e| panic!("{file}: {name} rejected: {e}")));
    }
    applied
}

#[tokio::test]
async fn crds_are_established_and_examples_are_accepted() {
    let (client, ns) = setup("examples").await;
    let policies = apply_example(&client, "examples/policies/prod-admin.yaml", &ns).await;
    assert_eq!(policies.len(), 1);
    apply_example(&client, "examples/policy-account-assignment.yaml", &ns).await;
    apply_example(&client, "examples/grant.yaml", &ns).await;
    apply_example(&client, "examples/grant-account-assignment.yaml", &ns).await;

    // Read back through the typed API: what the server stored is what the types describe.
    let policy = Api::<BreakGlassPolicy>::all(client.clone())
        .get("prod-admin")
        .await
        .expect("example policy");
    assert_eq!(policy.spec.duration.max, "24h");
    assert_eq!(policy.spec.pause.len(), 4);
    let grant = Api::<BreakGlassGrant>::namespaced(client.clone(), &ns)
        .get("inc-4211-alice")
        .await
        .expect("example grant");
    assert_eq!(grant.spec.user, "alice@example.com");
    assert_eq!(
        grant.spec.incident.as_ref().expect("incident").id,
        "INC-4211"
    );
}

#[tokio::test]
async fn schema_defaults_are_applied() {
    let (client, ns) = setup("defaults").await;
    let name = unique_name("defaults", &ns);
    let mut spec = valid_policy_spec();
    spec.as_object_mut().expect("object").remove("duration");
    policies_raw(&client)
        .create(
            &PostParams::default(),
            &object("BreakGlassPolicy", &name, None, spec),
        )
        .await
        .expect("policy without durations");
    let policy = Api::<BreakGlassPolicy>::all(client.clone())
        .get(&name)
        .await
        .expect("policy");
    assert_eq!(
        (
            policy.spec.duration.default.as_str(),
            policy.spec.duration.max.as_str()
        ),
        ("1h", "24h")
    );
    let argo = policy.spec.pause[0].argo_cd.as_ref().expect("argoCD entry");
    assert_eq!(argo.namespace, "argocd");

    let mut spec = valid_grant_spec(&name);
    spec["incident"] = json!({"id": "INC-2"});
    grants_raw(&client, &ns)
        .create(
            &PostParams::default(),
            &object("BreakGlassGrant", "g", Some(&ns), spec),
        )
        .await
        .expect("grant");
    let grant = Api::<BreakGlassGrant>::namespaced(client.clone(), &ns)
        .get("g")
        .await
        .expect("grant");
    assert!(!grant.spec.resolved);
    assert_eq!(
        grant.spec.incident.as_ref().expect("incident").source,
        IncidentSource::Manual
    );
}

/// One invalid object: how to break the valid spec, and what the API server must say.
struct Case {
    what: &'static str,
    mutate: fn(&mut Value),
    field: &'static str,
    message: &'static str,
}

#[tokio::test]
async fn invalid_grants_are_rejected_with_a_message_per_field() {
    let (client, ns) = setup("invalid-grants").await;
    let cases = [
        Case {
            what: "empty reason",
            mutate: |s| s["reason"] = json!(""),
            field: "spec.reason",
            message: "reason must not be empty",
        },
        Case {
            what: "blank reason",
            mutate: |s| s["reason"] = json!("   "),
            field: "spec.reason",
            message: "reason must not be empty",
        },
        Case {
            what: "missing reason",
            mutate: |s| {
                s.as_object_mut().map(|o| o.remove("reason"));
            },
            field: "spec.reason",
            message: "Required value",
        },
        Case {
            what: "empty user",
            mutate: |s| s["user"] = json!(""),
            field: "spec.user",
            message: "user must not be empty",
        },
        Case {
            what: "empty policy",
            mutate: |s| s["policy"] = json!(""),
            field: "spec.policy",
            message: "should be at least 1 chars long",
        },
        Case {
            what: "duration that is not a Go duration",
            mutate: |s| s["duration"] = json!("2 hours"),
            field: "spec.duration",
            message: "must be a positive Go duration",
        },
        Case {
            what: "duration in days",
            mutate: |s| s["duration"] = json!("1d"),
            field: "spec.duration",
            message: "must be a positive Go duration",
        },
        Case {
            what: "zero duration",
            mutate: |s| s["duration"] = json!("0s"),
            field: "spec.duration",
            message: "must be a positive Go duration",
        },
        Case {
            what: "negative duration",
            mutate: |s| s["duration"] = json!("-1h"),
            field: "spec.duration",
            message: "must be a positive Go duration",
        },
        Case {
            what: "duration above 24h",
            mutate: |s| s["duration"] = json!("24h1s"),
            field: "spec.duration",
            message: "must not exceed 24h",
        },
        Case {
            what: "incident without id",
            mutate: |s| s["incident"] = json!({"url": "https://x.example.com"}),
            field: "spec.incident.id",
            message: "Required value",
        },
        Case {
            what: "incident url that is not http(s)",
            mutate: |s| s["incident"]["url"] = json!("javascript:alert(1)"),
            field: "spec.incident.url",
            message: "should match '^https?://'",
        },
        Case {
            what: "unknown incident source",
            mutate: |s| s["incident"]["source"] = json!("pagerduty"),
            field: "spec.incident.source",
            message: "Unsupported value",
        },
    ];
    let api = grants_raw(&client, &ns);
    for (i, case) in cases.iter().enumerate() {
        let mut spec = valid_grant_spec("prod-admin");
        (case.mutate)(&mut spec);
        let obj = object("BreakGlassGrant", &format!("bad-{i}"), Some(&ns), spec);
        let status = expect_invalid(api.create(&PostParams::default(), &obj).await, case.what);
        assert_field_error(&status, case.field, case.message);
    }
    // Nothing was created along the way.
    assert!(
        api.list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn invalid_policies_are_rejected_with_a_message_per_field() {
    let (client, ns) = setup("invalid-policies").await;
    let cases = [
        Case {
            what: "both access kinds",
            mutate: |s| {
                s["access"]["accountAssignment"] = json!({
                    "instanceArn": "arn:aws:sso:::instance/ssoins-0000000000000000",
                    "permissionSetArn": "arn:aws:sso:::permissionSet/ssoins-0000000000000000/ps-0000000000000000",
                    "accountIds": ["222222222222"],
                })
            },
            field: "spec.access",
            message: "exactly one of groupMembership or accountAssignment",
        },
        Case {
            what: "neither access kind",
            mutate: |s| s["access"] = json!({}),
            field: "spec.access",
            message: "exactly one of groupMembership or accountAssignment",
        },
        Case {
            what: "group by name and id",
            mutate: |s| s["access"]["groupMembership"]["groupId"] = json!("abc"),
            field: "spec.access.groupMembership",
            message: "exactly one of groupName or groupId",
        },
        Case {
            what: "max below default",
            mutate: |s| s["duration"] = json!({"default": "2h", "max": "90m"}),
            field: "spec.duration.max",
            message: "max must not be below default",
        },
        Case {
            what: "max above 24h",
            mutate: |s| s["duration"]["max"] = json!("25h"),
            field: "spec.duration.max",
            message: "must not exceed 24h",
        },
        Case {
            what: "default that is not a Go duration",
            mutate: |s| s["duration"]["default"] = json!("an hour"),
            field: "spec.duration.default",
            message: "must be a positive Go duration",
        },
        Case {
            what: "matcher without operator",
            mutate: |s| s["alerts"][0]["matchers"] = json!(["alertname"]),
            field: "spec.alerts[0].matchers",
            message: "each matcher must be Alertmanager syntax",
        },
        Case {
            what: "matcher with unterminated quote",
            mutate: |s| s["alerts"][0]["matchers"] = json!(["alertname=\"HighErrorRate"]),
            field: "spec.alerts[0].matchers",
            message: "each matcher must be Alertmanager syntax",
        },
        Case {
            what: "alert rule with userLabel and users",
            mutate: |s| s["alerts"][0]["users"] = json!(["bob@example.com"]),
            field: "spec.alerts[0]",
            message: "set exactly one of userLabel or users",
        },
        Case {
            what: "alert rule with neither userLabel nor users",
            mutate: |s| {
                s["alerts"][0]
                    .as_object_mut()
                    .map(|o| o.remove("userLabel"));
            },
            field: "spec.alerts[0]",
            message: "set exactly one of userLabel or users",
        },
        Case {
            what: "alert duration above 24h",
            mutate: |s| s["alerts"][0]["duration"] = json!("48h"),
            field: "spec.alerts[0].duration",
            message: "must not exceed 24h",
        },
        Case {
            what: "pause entry with two kinds",
            mutate: |s| s["pause"][0]["flux"] = json!({"kind": "Kustomization", "names": ["apps"]}),
            field: "spec.pause[0]",
            message: "exactly one of argoCD, flux, crossplane, tofu or annotation",
        },
        Case {
            what: "pause entry with neither names nor selector",
            mutate: |s| s["pause"][0] = json!({"argoCD": {"namespace": "argocd"}}),
            field: "spec.pause[0].argoCD",
            message: "set names, selector, or both",
        },
        Case {
            what: "unknown Argo CD pause method",
            mutate: |s| s["pause"][0]["argoCD"]["method"] = json!("Delete"),
            field: "spec.pause[0].argoCD.method",
            message: "Unsupported value",
        },
        Case {
            what: "annotation pause on the operator's own annotations",
            mutate: |s| {
                s["pause"][0] = json!({"annotation": {"apiVersion": "v1", "kind": "ConfigMap",
                    "names": ["a"], "key": "breakglass.dev/paused-by", "value": "x"}})
            },
            field: "spec.pause[0].annotation.key",
            message: "breakglass.dev/ annotations are the operator's own",
        },
        Case {
            what: "role that is not an IAM role ARN",
            mutate: |s| s["aws"]["roleArn"] = json!("arn:aws:iam::111111111111:user/bob"),
            field: "spec.aws.roleArn",
            message: "should match",
        },
        Case {
            what: "account id that is not 12 digits",
            mutate: |s| {
                s["access"] = json!({"accountAssignment": {
                    "instanceArn": "arn:aws:sso:::instance/ssoins-0000000000000000",
                    "permissionSetArn": "arn:aws:sso:::permissionSet/ssoins-0000000000000000/ps-0000000000000000",
                    "accountIds": ["2222"],
                }})
            },
            field: "spec.access.accountAssignment.accountIds[0]",
            message: "should match",
        },
        Case {
            what: "missing aws block",
            mutate: |s| {
                s.as_object_mut().map(|o| o.remove("aws"));
            },
            field: "spec.aws",
            message: "Required value",
        },
    ];
    let api = policies_raw(&client);
    for (i, case) in cases.iter().enumerate() {
        let mut spec = valid_policy_spec();
        (case.mutate)(&mut spec);
        let name = unique_name(&format!("bad-{i}"), &ns);
        let obj = object("BreakGlassPolicy", &name, None, spec);
        let status = expect_invalid(api.create(&PostParams::default(), &obj).await, case.what);
        assert_field_error(&status, case.field, case.message);
        assert!(
            api.get_opt(&name).await.expect("get").is_none(),
            "{}: created anyway",
            case.what
        );
    }
}

#[tokio::test]
async fn user_policy_and_resolution_cannot_be_changed_back() {
    let (client, ns) = setup("immutable").await;
    let api = grants_raw(&client, &ns);
    let obj = object(
        "BreakGlassGrant",
        "g",
        Some(&ns),
        valid_grant_spec("prod-admin"),
    );
    api.create(&PostParams::default(), &obj)
        .await
        .expect("valid grant");
    let merge = |spec: Value| Patch::Merge(json!({"spec": spec}));
    let params = PatchParams::default();

    let status = expect_invalid(
        api.patch("g", &params, &merge(json!({"user": "mallory@example.com"})))
            .await,
        "changing user",
    );
    assert_field_error(&status, "spec.user", "user is immutable");

    let status = expect_invalid(
        api.patch("g", &params, &merge(json!({"policy": "other"})))
            .await,
        "changing policy",
    );
    assert_field_error(&status, "spec.policy", "policy is immutable");

    let status = expect_invalid(
        api.patch(
            "g",
            &params,
            &merge(json!({"requestedBy": "mallory@example.com"})),
        )
        .await,
        "changing requestedBy",
    );
    assert_field_error(&status, "spec.requestedBy", "requestedBy is immutable");
    let status = expect_invalid(
        api.patch("g", &params, &merge(json!({"requestedBy": null})))
            .await,
        "removing requestedBy",
    );
    assert_field_error(&status, "spec", "cannot be added or removed");

    // The record: why, and for which incident, cannot be rewritten afterwards.
    let status = expect_invalid(
        api.patch("g", &params, &merge(json!({"reason": "nothing happened"})))
            .await,
        "rewriting reason",
    );
    assert_field_error(&status, "spec.reason", "reason is immutable");
    let status = expect_invalid(
        api.patch("g", &params, &merge(json!({"incident": {"id": "INC-0"}})))
            .await,
        "rewriting incident",
    );
    assert_field_error(&status, "spec.incident", "incident is immutable");
    let status = expect_invalid(
        api.patch("g", &params, &merge(json!({"incident": null})))
            .await,
        "removing incident",
    );
    assert_field_error(&status, "spec", "incident cannot be removed");
    // A grant asked for without one may have its incident added later.
    let mut bare = valid_grant_spec("prod-admin");
    bare.as_object_mut().map(|o| o.remove("incident"));
    api.create(
        &PostParams::default(),
        &object("BreakGlassGrant", "bare", Some(&ns), bare),
    )
    .await
    .expect("a grant without incident");
    api.patch(
        "bare",
        &params,
        &merge(json!({"incident": {"id": "INC-2"}})),
    )
    .await
    .expect("adding the incident later");

    // Other fields stay editable: ending a grant early is the normal path.
    api.patch("g", &params, &merge(json!({"resolved": true})))
        .await
        .expect("resolving a grant");
    let status = expect_invalid(
        api.patch("g", &params, &merge(json!({"resolved": false})))
            .await,
        "reopening a resolved grant",
    );
    assert_field_error(&status, "spec.resolved", "cannot be reopened");

    let grant = Api::<BreakGlassGrant>::namespaced(client.clone(), &ns)
        .get("g")
        .await
        .expect("grant");
    assert_eq!(grant.spec.user, "alice@example.com");
    assert_eq!(grant.spec.policy, "prod-admin");
    assert_eq!(grant.spec.reason, "Checkout 5xx spike");
    assert_eq!(
        grant.spec.incident.as_ref().map(|i| i.id.as_str()),
        Some("INC-1")
    );
    assert_eq!(
        grant.spec.requested_by.as_deref(),
        Some("alice@example.com")
    );
    assert!(grant.spec.resolved);
}

#[tokio::test]
async fn status_is_a_subresource_and_printer_columns_show() {
    let (client, ns) = setup("status").await;
    let api = grants_raw(&client, &ns);
    api.create(
        &PostParams::default(),
        &object(
            "BreakGlassGrant",
            "g",
            Some(&ns),
            valid_grant_spec("prod-admin"),
        ),
    )
    .await
    .expect("valid grant");
    let expires: Time = serde_json::from_value(json!("2030-01-02T03:04:05Z")).expect("time");

    // A status write that also carries a spec change: the status subresource ignores spec.
    let typed: Api<BreakGlassGrant> = Api::namespaced(client.clone(), &ns);
    let status = BreakGlassGrantStatus {
        phase: Some(GrantPhase::Active),
        expires_at: Some(expires.clone()),
        observed_generation: Some(1),
        ..Default::default()
    };
    let patch = json!({
        "apiVersion": "breakglass.dev/v1alpha1",
        "kind": "BreakGlassGrant",
        "spec": {"user": "mallory@example.com", "reason": "changed via status"},
        "status": status,
    });
    typed
        .patch_status(
            "g",
            &PatchParams::apply("breakglass-controller").force(),
            &Patch::Apply(&patch),
        )
        .await
        .expect("status apply");
    let grant = typed.get("g").await.expect("grant");
    assert_eq!(grant.spec.user, "alice@example.com");
    assert_eq!(grant.spec.reason, "Checkout 5xx spike");
    let stored = grant.status.expect("status");
    assert_eq!(stored.phase, Some(GrantPhase::Active));
    assert_eq!(stored.expires_at, Some(expires));

    // And a spec write does not touch status.
    typed
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"duration": "1h"}, "status": {"phase": "Ended"}})),
        )
        .await
        .expect("spec patch");
    let grant = typed.get("g").await.expect("grant");
    assert_eq!(grant.spec.duration.as_deref(), Some("1h"));
    assert_eq!(grant.status.and_then(|s| s.phase), Some(GrantPhase::Active));

    // What `kubectl get bgg` shows: the server-side Table with our printer columns.
    let url = format!("/apis/breakglass.dev/v1alpha1/namespaces/{ns}/breakglassgrants");
    let request = http::Request::get(url)
        .header(
            http::header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io",
        )
        .body(vec![])
        .expect("request");
    let table: Value = client.request(request).await.expect("table");
    let columns: Vec<(&str, i64)> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default(),
                c["priority"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    let default_columns: Vec<&str> = columns
        .iter()
        .filter(|(_, p)| *p == 0)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        default_columns,
        ["Name", "User", "Policy", "Phase", "Expires", "Age"]
    );
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[0], "g");
    assert_eq!(cells[1], "alice@example.com");
    assert_eq!(cells[2], "prod-admin");
    assert_eq!(cells[3], "Active");
    assert_eq!(cells[4], "2030-01-02T03:04:05Z");
}

#[tokio::test]
async fn short_names_and_category_are_served() {
    let client = client().await;
    install_crds(&client).await;
    let discovery = kube::Discovery::new(client.clone())
        .filter(&[breakglass::api::GROUP])
        .run()
        .await
        .expect("discovery");
    // Discovery does not expose short names; read them from the served CRDs instead.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (name, short) in [
        ("breakglassgrants.breakglass.dev", "bgg"),
        ("breakglasspolicies.breakglass.dev", "bgp"),
    ] {
        let crd = crds.get(name).await.expect("crd");
        let names = crd.spec.names;
        assert_eq!(names.short_names.unwrap_or_default(), [short]);
        assert_eq!(names.categories.unwrap_or_default(), ["breakglass"]);
    }
    let kinds: Vec<String> = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .map(|(ar, _)| ar.kind)
        .collect();
    assert!(kinds.contains(&"BreakGlassGrant".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"BreakGlassPolicy".to_string()), "{kinds:?}");
}
