//! Alertmanager webhook payloads (version "4") and how alerts map to grants. Pure: the HTTP
//! server and the Kubernetes writes are the operator's `webhook`; `aggregate` decides what
//! one notification changes.

pub mod aggregate;

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use sha2::{Digest, Sha256};

use crate::{AlertRule, BreakGlassPolicySpec};

/// At most this many alerts in one notification (Alertmanager's `max_alerts` is 0 = all by
/// default; a group this large is a misconfiguration, not an incident).
pub const MAX_ALERTS: usize = 1000;

/// Labels put on grants created from alerts: the source (the webhook's cache watches only
/// these), the group (policy, rule, user) the grant stands for, and the fingerprint of the
/// alert that opened it (for `kubectl get -l`).
pub const SOURCE_LABEL: &str = "breakglass.dev/source";
pub const GROUP_LABEL: &str = "breakglass.dev/alert-group";
pub const FINGERPRINT_LABEL: &str = "breakglass.dev/alert-fingerprint";
/// Annotations naming the alert that opened the grant exactly (fingerprint and `startsAt`
/// identify one firing): known even before the grant's `status.alerts` is written.
pub const FINGERPRINT_ANNOTATION: &str = "breakglass.dev/alert-fingerprint";
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

/// An alert or rule that could not be used, with why; reported in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub fingerprint: String,
    pub why: String,
}

/// Which grant an alert counts towards: one per policy, rule and user. Alerts with the
/// same key share one grant, so a storm of alerts about one person opens one grant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    pub policy: String,
    /// A digest of the rule (matchers, namespace, user source): rules are a list, and a
    /// position would change meaning when one is inserted.
    pub rule: String,
    pub namespace: String,
    pub user: String,
}

impl GroupKey {
    /// A label value naming the group on its grants (`breakglass.dev/alert-group`).
    pub fn id(&self) -> String {
        short_hash(&format!(
            "{}\n{}\n{}\n{}",
            self.policy, self.rule, self.namespace, self.user
        ))
    }
}

/// The first 16 hex digits of a SHA-256: names and labels, not security.
pub fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A policy as alert matching reads it: its name and its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPolicy {
    pub name: String,
    pub spec: BreakGlassPolicySpec,
}

/// One alert matched by one rule for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched<'a> {
    /// Index of the alert in the payload.
    pub alert: usize,
    pub group: GroupKey,
    pub rule: &'a AlertRule,
}

/// Every (alert, rule, user) that matches, firing or resolved (a resolved alert that
/// arrives first must be recorded where its firing would go), and what was skipped. Pure.
pub fn targets<'a>(
    payload: &Payload,
    policies: &'a [NamedPolicy],
) -> (Vec<Matched<'a>>, Vec<Skipped>) {
    let mut out = vec![];
    let mut skipped = vec![];
    for (index, alert) in payload.alerts.iter().enumerate() {
        for policy in policies {
            let policy_name = policy.name.clone();
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
                let rule_id = rule_id(rule);
                for user in users {
                    out.push(Matched {
                        alert: index,
                        group: GroupKey {
                            policy: policy_name.clone(),
                            rule: rule_id.clone(),
                            namespace: rule.namespace.clone(),
                            user,
                        },
                        rule,
                    });
                }
            }
        }
    }
    (out, skipped)
}

fn rule_id(rule: &AlertRule) -> String {
    short_hash(&format!(
        "{:?}\n{}\n{:?}\n{:?}",
        rule.matchers, rule.namespace, rule.user_label, rule.users
    ))
}

fn rule_matches(rule: &AlertRule, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    for m in &rule.matchers {
        if !Matcher::parse(m)?.matches(labels) {
            return Ok(false);
        }
    }
    Ok(!rule.matchers.is_empty())
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
#[cfg(test)]
mod tests_matching;
