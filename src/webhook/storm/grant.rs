//! The grant the webhook creates for a group of alerts: a typed `BreakGlassGrant`, never
//! JSON text, so a field the API types do not know cannot be written by mistake.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;

use crate::{
    api::{AlertRule, BreakGlassGrant, BreakGlassGrantSpec, Incident, IncidentSource},
    webhook::alertmanager::{
        Alert, FINGERPRINT_ANNOTATION, FINGERPRINT_LABEL, GROUP_LABEL, GroupKey, SOURCE_LABEL,
        STARTS_AT_ANNOTATION, label_value, short_hash,
    },
};

/// `alert-<alertname>-<hash>`: stable for the group and the alert that opens the grant (so
/// a retry of the same notification finds it), a valid object name, readable in `kubectl
/// get`.
pub fn grant_name(group: &GroupKey, fingerprint: &str, starts_at: &str, alertname: &str) -> String {
    let hash = short_hash(&format!("{}\n{fingerprint}\n{starts_at}", group.id()));
    let mut slug: String = alertname
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug.truncate(40);
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        format!("alert-{hash}")
    } else {
        format!("alert-{slug}-{hash}")
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// What a new grant is made from.
pub struct Opening<'a> {
    pub group: &'a GroupKey,
    pub rule: &'a AlertRule,
    /// The alert that opens it (the first of the group in the notification).
    pub alert: &'a Alert,
    /// `externalURL` of the notification, the link when the alert has none.
    pub external_url: &'a str,
    /// The webhook's own Kubernetes username: it asks on the alert's behalf.
    pub requested_by: &'a str,
    /// Already resolved: the alert resolved before it was ever seen firing, and this grant
    /// records that so a late firing opens nothing.
    pub resolved: bool,
}

/// The grant for `opening`. Pure.
pub fn build(opening: &Opening<'_>) -> BreakGlassGrant {
    let alert = opening.alert;
    let alertname = alert.labels.get("alertname").cloned().unwrap_or_default();
    let name = grant_name(
        opening.group,
        &alert.fingerprint,
        &alert.starts_at,
        &alertname,
    );
    let summary = ["summary", "description"]
        .iter()
        .find_map(|k| alert.annotations.get(*k).filter(|v| !v.trim().is_empty()));
    let reason = match summary {
        Some(s) => truncate(s, 1024),
        None if !alertname.is_empty() => format!("alert {alertname} firing"),
        None => "alert firing".to_owned(),
    };
    let url = [alert.generator_url.as_str(), opening.external_url]
        .into_iter()
        .find(|u| u.starts_with("http://") || u.starts_with("https://"))
        .filter(|u| u.len() <= 2048)
        .map(str::to_owned);
    let compact_start: String = alert
        .starts_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    let labels = BTreeMap::from([
        (SOURCE_LABEL.to_owned(), "alertmanager".to_owned()),
        (GROUP_LABEL.to_owned(), opening.group.id()),
        (
            FINGERPRINT_LABEL.to_owned(),
            label_value(&alert.fingerprint),
        ),
    ]);
    let annotations = BTreeMap::from([
        (
            FINGERPRINT_ANNOTATION.to_owned(),
            truncate(&alert.fingerprint, 128),
        ),
        (
            STARTS_AT_ANNOTATION.to_owned(),
            truncate(&alert.starts_at, 64),
        ),
    ]);
    BreakGlassGrant {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(opening.group.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: BreakGlassGrantSpec {
            policy: opening.group.policy.clone(),
            user: opening.group.user.clone(),
            reason,
            duration: opening.rule.duration.clone(),
            incident: Some(Incident {
                id: truncate(&format!("{}-{compact_start}", alert.fingerprint), 128),
                url,
                source: IncidentSource::Alertmanager,
            }),
            account_ids: None,
            requested_by: Some(opening.requested_by.to_owned()),
            resolved: opening.resolved,
        }
        .into(),
        status: None,
    }
}
