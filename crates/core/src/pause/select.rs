//! Which objects a policy's `pause` entries name, and how each kind is paused. Pure.

use crate::LabelSelector;

use crate::{ArgoCdMethod, BreakGlassPolicySpec, FluxKind, PauseMethod, PauseTarget, RestoreMode};

/// How an object is paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Argo CD: `automated.enabled: false`, or without that field, `automated` removed.
    DisableAutoSync,
    /// Argo CD: `argocd.argoproj.io/skip-reconcile: "true"`.
    SkipReconcile,
    /// Flux: `spec.suspend: true`.
    Suspend,
    /// Crossplane: `crossplane.io/paused: "true"`.
    CrossplanePause,
    /// tofu-controller: `spec.approvePlan: ""` (plan, never apply).
    PlanOnly,
    /// Any kind: one annotation set while paused.
    Annotation { key: String, value: String },
}

impl Method {
    /// The method as recorded on grants and objects.
    pub fn kind(&self) -> PauseMethod {
        match self {
            Method::DisableAutoSync => PauseMethod::DisableAutoSync,
            Method::SkipReconcile => PauseMethod::SkipReconcile,
            Method::Suspend => PauseMethod::Suspend,
            Method::CrossplanePause => PauseMethod::CrossplanePause,
            Method::PlanOnly => PauseMethod::PlanOnly,
            Method::Annotation { .. } => PauseMethod::Annotation,
        }
    }
}

/// One `pause` entry of a policy: which objects, and how to pause them.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub names: Vec<String>,
    pub selector: Option<LabelSelector>,
    pub method: Method,
    pub required: bool,
    pub pause_parent: bool,
    /// When to give it back after the grant ends.
    pub restore: RestoreMode,
}

impl Selection {
    /// `kind apiVersion`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.api_version)
    }
}

/// The policy's pause entries, in order.
pub fn selections(policy: &BreakGlassPolicySpec) -> Vec<Selection> {
    policy.pause.iter().filter_map(selection).collect()
}

fn selection(target: &PauseTarget) -> Option<Selection> {
    let sel = |api_version: &str, kind: &str, namespace: Option<&String>, method| Selection {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        namespace: namespace.cloned(),
        names: vec![],
        selector: None,
        method,
        required: false,
        pause_parent: false,
        restore: target.restore,
    };
    if let Some(a) = &target.argo_cd {
        let method = match a.method {
            ArgoCdMethod::DisableAutoSync => Method::DisableAutoSync,
            ArgoCdMethod::SkipReconcile => Method::SkipReconcile,
        };
        return Some(Selection {
            names: a.names.clone(),
            selector: a.selector.clone(),
            required: a.required,
            pause_parent: a.pause_parent,
            ..sel(
                "argoproj.io/v1alpha1",
                "Application",
                Some(&a.namespace),
                method,
            )
        });
    }
    if let Some(f) = &target.flux {
        let (api_version, kind) = match f.kind {
            FluxKind::Kustomization => ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
            FluxKind::HelmRelease => ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
        };
        return Some(Selection {
            names: f.names.clone(),
            selector: f.selector.clone(),
            required: f.required,
            ..sel(api_version, kind, Some(&f.namespace), Method::Suspend)
        });
    }
    if let Some(c) = &target.crossplane {
        return Some(Selection {
            names: c.names.clone(),
            selector: c.selector.clone(),
            required: c.required,
            ..sel(
                &c.api_version,
                &c.kind,
                c.namespace.as_ref(),
                Method::CrossplanePause,
            )
        });
    }
    if let Some(t) = &target.tofu {
        return Some(Selection {
            names: t.names.clone(),
            selector: t.selector.clone(),
            required: t.required,
            ..sel(
                "infra.contrib.fluxcd.io/v1alpha2",
                "Terraform",
                Some(&t.namespace),
                Method::PlanOnly,
            )
        });
    }
    target.annotation.as_ref().map(|a| Selection {
        names: a.names.clone(),
        selector: a.selector.clone(),
        required: a.required,
        ..sel(
            &a.api_version,
            &a.kind,
            a.namespace.as_ref(),
            Method::Annotation {
                key: a.key.clone(),
                value: a.value.clone(),
            },
        )
    })
}
