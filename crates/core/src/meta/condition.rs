//! `metav1.Condition`: one aspect of a resource's state.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::{Time, null_as_default};

/// Condition contains details for one aspect of the current state of this API Resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The last time the condition transitioned from one status to another.
    pub last_transition_time: Time,
    /// A human readable message about the transition; may be empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
    /// The `.metadata.generation` the condition was set based upon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// A CamelCase identifier of the reason for the last transition.
    #[serde(default, deserialize_with = "null_as_default")]
    pub reason: String,
    /// True, False or Unknown.
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    /// The condition's type, in CamelCase.
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub type_: String,
}

impl JsonSchema for Condition {
    fn schema_name() -> Cow<'static, str> {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Condition".into()
    }

    fn json_schema(generate: &mut SchemaGenerator) -> Schema {
        // k8s-openapi's schema, word for word.
        json_schema!({
            "description": "Condition contains details for one aspect of the current state of this API Resource.",
            "type": "object",
            "properties": {
                "lastTransitionTime": ({
                    let mut schema = generate.subschema_for::<Time>();
                    schema.ensure_object().insert("description".into(), "lastTransitionTime is the last time the condition transitioned from one status to another. This should be when the underlying condition changed.  If that is not known, then using the time when the API field changed is acceptable.".into());
                    schema
                }),
                "message": {
                    "description": "message is a human readable message indicating details about the transition. This may be an empty string.",
                    "type": "string",
                },
                "observedGeneration": {
                    "description": "observedGeneration represents the .metadata.generation that the condition was set based upon. For instance, if .metadata.generation is currently 12, but the .status.conditions[x].observedGeneration is 9, the condition is out of date with respect to the current state of the instance.",
                    "type": "integer",
                    "format": "int64",
                },
                "reason": {
                    "description": "reason contains a programmatic identifier indicating the reason for the condition's last transition. Producers of specific condition types may define expected values and meanings for this field, and whether the values are considered a guaranteed API. The value should be a CamelCase string. This field may not be empty.",
                    "type": "string",
                },
                "status": {
                    "description": "status of the condition, one of True, False, Unknown.",
                    "type": "string",
                },
                "type": {
                    "description": "type of condition in CamelCase or in foo.example.com/CamelCase.",
                    "type": "string",
                },
            },
            "required": [
                "lastTransitionTime",
                "message",
                "reason",
                "status",
                "type",
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_kubernetes_writes_it() {
        let json = r#"{"lastTransitionTime":"2024-05-01T12:00:00Z","message":"","observedGeneration":3,"reason":"Granted","status":"True","type":"Ready"}"#;
        let c: Condition = serde_json::from_str(json).unwrap();
        assert_eq!(c.observed_generation, Some(3));
        assert_eq!(serde_json::to_string(&c).unwrap(), json);
    }

    #[test]
    fn missing_or_null_strings_read_as_empty_but_time_is_required() {
        let c: Condition =
            serde_json::from_str(r#"{"lastTransitionTime":"2024-05-01T12:00:00Z","message":null}"#)
                .unwrap();
        assert_eq!((c.message.as_str(), c.type_.as_str()), ("", ""));
        assert!(serde_json::from_str::<Condition>(r#"{"type":"Ready"}"#).is_err());
    }
}
