//! breakglass-core's meta types to and from k8s-openapi's, for the Kubernetes calls that
//! take the latter. Both serialize alike; these conversions are field by field.

use breakglass_core::{LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as k8s;

pub fn time_to_k8s(t: &Time) -> k8s::Time {
    k8s::Time(t.0)
}

pub fn time_from_k8s(t: &k8s::Time) -> Time {
    Time(t.0)
}

/// A pause entry's selector as kube's list calls take it.
pub fn label_selector_to_k8s(s: &LabelSelector) -> k8s::LabelSelector {
    k8s::LabelSelector {
        match_expressions: s.match_expressions.as_ref().map(|reqs| {
            reqs.iter()
                .map(|r| k8s::LabelSelectorRequirement {
                    key: r.key.clone(),
                    operator: r.operator.clone(),
                    values: r.values.clone(),
                })
                .collect()
        }),
        match_labels: s.match_labels.clone(),
    }
}

#[cfg(test)]
mod tests {
    use breakglass_core::{Condition, LabelSelectorRequirement};
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn same_json<A: serde::Serialize, B: serde::Serialize>(a: &A, b: &B) {
        assert_eq!(
            serde_json::to_value(a).unwrap(),
            serde_json::to_value(b).unwrap()
        );
    }

    #[test]
    fn a_selector_converts_field_by_field() {
        let ours = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["db".into()]),
            }]),
            match_labels: Some([("app".to_owned(), "x".to_owned())].into()),
        };
        same_json(&ours, &label_selector_to_k8s(&ours));
        same_json(&LabelSelector::default(), &k8s::LabelSelector::default());
    }

    #[test]
    fn times_and_conditions_read_back_as_k8s_openapi_wrote_them() {
        let now: Timestamp = "2024-05-01T12:00:00.5Z".parse().unwrap();
        let theirs = k8s::Condition {
            last_transition_time: k8s::Time(now),
            message: "m".into(),
            observed_generation: Some(2),
            reason: "R".into(),
            status: "True".into(),
            type_: "Ready".into(),
        };
        let json = serde_json::to_string(&theirs).unwrap();
        let ours: Condition = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&ours).unwrap(), json);
        assert_eq!(time_from_k8s(&k8s::Time(now)), Time(now));
        same_json(&time_to_k8s(&Time(now)), &Time(now));
    }

    #[test]
    fn the_meta_schemas_are_k8s_openapis() {
        use schemars::SchemaGenerator;
        let schema = |f: fn(&mut SchemaGenerator) -> schemars::Schema| {
            f(&mut SchemaGenerator::default()).to_value()
        };
        use schemars::JsonSchema;
        assert_eq!(schema(Time::json_schema), schema(k8s::Time::json_schema));
        assert_eq!(
            schema(Condition::json_schema),
            schema(k8s::Condition::json_schema)
        );
        assert_eq!(
            schema(LabelSelector::json_schema),
            schema(k8s::LabelSelector::json_schema)
        );
        assert_eq!(
            schema(LabelSelectorRequirement::json_schema),
            schema(k8s::LabelSelectorRequirement::json_schema)
        );
    }
}
