//! Which fields each method owns, and whether a pause record read off an object stays
//! inside them. Whoever may edit an object may edit its annotations, so the record in
//! [`PAUSE_RECORD`](super::PAUSE_RECORD) is input, never an instruction: it is written back
//! only when its method is one the operator uses on that object, its path a field that
//! method owns, its paused value the one the method sets there, and its original of that
//! field's type. Pure.

use serde_json::Value;

use super::Method;
use super::record::Record;
use crate::{PauseMethod, PausedTarget};

pub(super) const AUTOMATED: &str = "/spec/syncPolicy/automated";
pub(super) const ARGO_SKIP_RECONCILE: &str = "argocd.argoproj.io/skip-reconcile";
pub(super) const CROSSPLANE_PAUSED: &str = "crossplane.io/paused";
const ANNOTATIONS: &str = "/metadata/annotations/";

/// Escapes a map key for a JSON pointer (RFC 6901).
pub(super) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

pub(super) fn annotation_path(key: &str) -> String {
    format!("{ANNOTATIONS}{}", escape(key))
}

/// The JSON type of a field's original value (absent is always fine: the field was unset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Bool,
    String,
    Object,
}

impl Shape {
    fn holds(self, v: &Value) -> bool {
        match self {
            Shape::Bool => v.is_boolean(),
            Shape::String => v.is_string(),
            Shape::Object => v.is_object(),
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shape::Bool => "boolean",
            Shape::String => "string",
            Shape::Object => "object",
        })
    }
}

/// One field a method owns: its JSON pointer, the value it takes while paused (`None`: the
/// pause removes it) and the type of what it held before.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub path: String,
    pub paused: Option<Value>,
    pub shape: Shape,
}

/// Why a pause record read off an object is not written back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("method {0:?} is not how the operator pauses this object")]
    Method(PauseMethod),
    #[error("{path} is not a field {method:?} owns")]
    Path { method: PauseMethod, path: String },
    #[error("{method:?} sets {path} to {expected} while paused, not {recorded}")]
    Paused {
        method: PauseMethod,
        path: String,
        expected: String,
        recorded: String,
    },
    #[error("the original of {path} must be a {shape}, not {value}")]
    Original {
        path: String,
        shape: Shape,
        value: String,
    },
}

fn shown(v: Option<&Value>) -> String {
    v.map_or_else(|| "unset".to_owned(), Value::to_string)
}

impl Method {
    /// Every field this method may set. `DisableAutoSync` owns `automated.enabled` and, on
    /// CRDs without that field (Argo CD < 3.1), the whole `automated` block.
    pub fn fields(&self) -> Vec<Field> {
        let field = |path: String, paused: Option<Value>, shape| Field {
            path,
            paused,
            shape,
        };
        let annotation = |key: &str, value: &str| {
            field(
                annotation_path(key),
                Some(Value::from(value)),
                Shape::String,
            )
        };
        match self {
            Method::DisableAutoSync => vec![
                field(
                    format!("{AUTOMATED}/enabled"),
                    Some(Value::Bool(false)),
                    Shape::Bool,
                ),
                field(AUTOMATED.to_owned(), None, Shape::Object),
            ],
            Method::SkipReconcile => vec![annotation(ARGO_SKIP_RECONCILE, "true")],
            Method::Suspend => vec![field(
                "/spec/suspend".to_owned(),
                Some(Value::Bool(true)),
                Shape::Bool,
            )],
            Method::CrossplanePause => vec![annotation(CROSSPLANE_PAUSED, "true")],
            Method::PlanOnly => vec![field(
                "/spec/approvePlan".to_owned(),
                Some(Value::from("")),
                Shape::String,
            )],
            Method::Annotation { key, value } => vec![annotation(key, value)],
        }
    }

    /// The method a grant's entry records (the operator writes entries; tenants cannot).
    /// `None` for an `Annotation` entry that does not record its path and paused value: its
    /// key and value are known from nothing else once the policy is gone.
    pub fn recorded(entry: &PausedTarget) -> Option<Method> {
        Some(match entry.method {
            PauseMethod::DisableAutoSync => Method::DisableAutoSync,
            PauseMethod::SkipReconcile => Method::SkipReconcile,
            PauseMethod::Suspend => Method::Suspend,
            PauseMethod::CrossplanePause => Method::CrossplanePause,
            PauseMethod::PlanOnly => Method::PlanOnly,
            PauseMethod::Annotation => {
                let token = entry.path.as_deref()?.strip_prefix(ANNOTATIONS)?;
                let paused: Value = serde_json::from_str(entry.paused.as_deref()?).ok()?;
                Method::Annotation {
                    key: unescape(token),
                    value: paused.as_str()?.to_owned(),
                }
            }
        })
    }

    /// The methods a kind is paused with whatever policy names it (another policy's grant
    /// may have paused it first): Argo CD's two for an Application, `Suspend` for Flux's
    /// kinds, `PlanOnly` for tofu-controller's; `CrossplanePause` for any other kind. An
    /// `Annotation` method is never implied: its key comes from a policy or a grant entry.
    pub fn of_kind(api_version: &str, kind: &str) -> Vec<Method> {
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        match (group, kind) {
            ("argoproj.io", "Application") => vec![Method::DisableAutoSync, Method::SkipReconcile],
            ("kustomize.toolkit.fluxcd.io", "Kustomization")
            | ("helm.toolkit.fluxcd.io", "HelmRelease") => vec![Method::Suspend],
            ("infra.contrib.fluxcd.io", "Terraform") => vec![Method::PlanOnly],
            _ => vec![Method::CrossplanePause],
        }
    }
}

/// Whether `record` stays inside a field one of `allowed` owns: same method, an owned
/// path, that field's paused value, and an original of its type (or unset).
pub fn check(record: &Record, allowed: &[Method]) -> Result<(), Refusal> {
    let owned: Vec<Field> = allowed
        .iter()
        .filter(|m| m.kind() == record.method)
        .flat_map(Method::fields)
        .collect();
    if owned.is_empty() {
        return Err(Refusal::Method(record.method));
    }
    let at_path: Vec<&Field> = owned.iter().filter(|f| f.path == record.path).collect();
    let Some(first) = at_path.first() else {
        return Err(Refusal::Path {
            method: record.method,
            path: record.path.clone(),
        });
    };
    let Some(field) = at_path.iter().find(|f| f.paused == record.paused) else {
        return Err(Refusal::Paused {
            method: record.method,
            path: record.path.clone(),
            expected: shown(first.paused.as_ref()),
            recorded: shown(record.paused.as_ref()),
        });
    };
    match &record.original {
        Some(v) if !field.shape.holds(v) => Err(Refusal::Original {
            path: record.path.clone(),
            shape: field.shape,
            value: v.to_string(),
        }),
        _ => Ok(()),
    }
}
