//! Alertmanager webhook payloads (version "4") and how alerts map to grants. Pure: the HTTP
//! server and the Kubernetes writes are in the parent module.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{AlertRule, BreakGlassPolicy};

/// At most this many alerts in one notification (Alertmanager's `max_alerts` is 0 = all by
/// default; a group this large is a misconfiguration, not an incident).
pub const MAX_ALERTS: usize = 1000;

/// Labels put on grants created from alerts.
pub const FINGERPRINT_LABEL: &str = "breakglass.dev/alert-fingerprint";
pub const SOURCE_LABEL: &str = "breakglass.dev/source";
/// Annotation holding the alert's `startsAt`, which with the fingerprint identifies one firing.
pub const STARTS_AT_ANNOTATION: &str = "breakglass.dev/alert-starts-at";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("body is not an Alertmanager webhook payload: {0}")]
    Malformed(String),
    #[error("unsupported payload version {0:?}; expected \"4\"")]
    Version(String),
    #[error("{0} alerts in one notification; at most {MAX_ALERTS} are accepted")]
    TooManyAlerts(usize),
}

impl PayloadError {
    pub fn outcome(&self) -> &'static str {
        match self {
            PayloadError::Malformed(_) => "malformed",
            PayloadError::Version(_) => "wrong_version",
            PayloadError::TooManyAlerts(_) => "too_many_alerts",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub version: String,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: AlertStatus,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// Parses and checks a request body. Unknown fields are ignored.
pub fn parse(body: &[u8]) -> Result<Payload, PayloadError> {
    let payload: Payload =
        serde_json::from_slice(body).map_err(|e| PayloadError::Malformed(e.to_string()))?;
    if payload.version != "4" {
        return Err(PayloadError::Version(payload.version));
    }
    if payload.alerts.len() > MAX_ALERTS {
        return Err(PayloadError::TooManyAlerts(payload.alerts.len()));
    }
    for a in &payload.alerts {
        if a.fingerprint.trim().is_empty() || a.starts_at.trim().is_empty() {
            return Err(PayloadError::Malformed(
                "every alert needs a fingerprint and startsAt".into(),
            ));
        }
    }
    Ok(payload)
}

/// One Alertmanager label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: Op,
    value: String,
    regex: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl Matcher {
    /// Parses `name="value"`, `name!=value`, `name=~"regex"`, `name!~"regex"`. Regexes are
    /// anchored at both ends, as in Alertmanager.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| format!("matcher {text:?} has no operator"))?;
        let name = text[..name_end].to_owned();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("matcher {text:?} needs a label name"));
        }
        let rest = text[name_end..].trim_start();
        let (op, rest) = [
            ("=~", Op::Re),
            ("!~", Op::NotRe),
            ("!=", Op::Ne),
            ("=", Op::Eq),
        ]
        .into_iter()
        .find_map(|(s, op)| rest.strip_prefix(s).map(|r| (op, r)))
        .ok_or_else(|| format!("matcher {text:?} has no operator (=, !=, =~, !~)"))?;
        let value = unquote(rest.trim()).map_err(|e| format!("matcher {text:?}: {e}"))?;
        let regex = match op {
            Op::Re | Op::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("matcher {text:?}: bad regex: {e}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            name,
            op,
            value,
            regex,
        })
    }

    /// A missing label matches as the empty string, as in Alertmanager.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match (self.op, &self.regex) {
            (Op::Eq, _) => v == self.value,
            (Op::Ne, _) => v != self.value,
            (Op::Re, Some(re)) => re.is_match(v),
            (Op::NotRe, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }
}

fn unquote(s: &str) -> Result<String, String> {
    let Some(inner) = s.strip_prefix('"') else {
        return Ok(s.to_owned());
    };
    let inner = inner.strip_suffix('"').ok_or("unterminated quoted value")?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(c @ ('"' | '\\')) => out.push(c),
                Some(c) => return Err(format!("unknown escape \\{c}")),
                None => return Err("dangling backslash".into()),
            },
            '"' => return Err("unescaped quote inside the value".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// What to write for one notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create this grant unless it exists (its name is derived from the alert, so a repeat
    /// or retry of the same notification finds it).
    Create { namespace: String, grant: Value },
    /// Set `spec.resolved: true` on the grants this alert firing created.
    Resolve {
        fingerprint: String,
        starts_at: String,
    },
}

/// An alert or rule that could not be used, with why; reported in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub fingerprint: String,
    pub why: String,
}

/// The writes for `payload` under `policies`, and what was skipped. Pure.
pub fn plan(payload: &Payload, policies: &[BreakGlassPolicy]) -> (Vec<Action>, Vec<Skipped>) {
    let mut actions = vec![];
    let mut skipped = vec![];
    for alert in &payload.alerts {
        if alert.status == AlertStatus::Resolved {
            actions.push(Action::Resolve {
                fingerprint: alert.fingerprint.clone(),
                starts_at: alert.starts_at.clone(),
            });
            continue;
        }
        for policy in policies {
            let policy_name = policy.metadata.name.clone().unwrap_or_default();
            for rule in &policy.spec.alerts {
                match rule_matches(rule, &alert.labels) {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(why) => {
                        skipped.push(Skipped {
                            fingerprint: alert.fingerprint.clone(),
                            why: format!("policy {policy_name}: {why}"),
                        });
                        continue;
                    }
                }
                let users: Vec<String> = match &rule.user_label {
                    Some(label) => match alert.labels.get(label).filter(|u| !u.trim().is_empty()) {
                        Some(u) => vec![u.clone()],
                        None => {
                            skipped.push(Skipped {
                                fingerprint: alert.fingerprint.clone(),
                                why: format!(
                                    "policy {policy_name}: the alert has no {label:?} label naming the user"
                                ),
                            });
                            continue;
                        }
                    },
                    None => rule.users.clone(),
                };
                for user in users {
                    actions.push(Action::Create {
                        namespace: rule.namespace.clone(),
                        grant: grant(payload, alert, &policy_name, rule, &user),
                    });
                }
            }
        }
    }
    (actions, skipped)
}

fn rule_matches(rule: &AlertRule, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    for m in &rule.matchers {
        if !Matcher::parse(m)?.matches(labels) {
            return Ok(false);
        }
    }
    Ok(!rule.matchers.is_empty())
}

/// `alert-<alertname>-<hash>`: stable for one firing (policy, fingerprint, startsAt, user),
/// a valid object name, readable in `kubectl get`.
pub fn grant_name(
    policy: &str,
    fingerprint: &str,
    starts_at: &str,
    user: &str,
    alertname: &str,
) -> String {
    let key = format!("{policy}\n{fingerprint}\n{starts_at}\n{user}");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let hash: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
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

fn grant(payload: &Payload, alert: &Alert, policy: &str, rule: &AlertRule, user: &str) -> Value {
    let alertname = alert.labels.get("alertname").cloned().unwrap_or_default();
    let name = grant_name(
        policy,
        &alert.fingerprint,
        &alert.starts_at,
        user,
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
    let url = [&alert.generator_url, &payload.external_url]
        .into_iter()
        .find(|u| u.starts_with("http://") || u.starts_with("https://"))
        .filter(|u| u.len() <= 2048);
    let compact_start: String = alert
        .starts_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    let mut incident = json!({
        "id": truncate(&format!("{}-{compact_start}", alert.fingerprint), 128),
        "source": "alertmanager",
    });
    if let Some(u) = url {
        incident["url"] = json!(u);
    }
    let mut spec = json!({
        "policy": policy,
        "user": user,
        "reason": reason,
        "incident": incident,
    });
    if let Some(d) = &rule.duration {
        spec["duration"] = json!(d);
    }
    json!({
        "apiVersion": "breakglass.dev/v1alpha1",
        "kind": "BreakGlassGrant",
        "metadata": {
            "name": name,
            "namespace": rule.namespace,
            "labels": {
                FINGERPRINT_LABEL: label_value(&alert.fingerprint),
                SOURCE_LABEL: "alertmanager",
            },
            "annotations": {STARTS_AT_ANNOTATION: alert.starts_at},
        },
        "spec": spec,
    })
}

/// Fingerprints are 16 hex digits; anything else is cut to a valid label value.
pub fn label_value(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

#[cfg(test)]
mod tests;
