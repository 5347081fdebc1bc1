//! `report`: the incident's record — who asked, what was given, what was paused, what
//! people changed meanwhile, when it all went back — from the grant's status and Events,
//! as Markdown for a post-mortem or as JSON.

use k8s_openapi::{api::core::v1::Event, jiff::Timestamp};
use kube::{Api, api::ListParams};
use serde::Serialize;

use super::{Error, Session, kube_error};
use breakglass_api::BreakGlassGrant;

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub at: Timestamp,
    pub event: String,
    pub detail: String,
    /// A Warning Event (a person overrode a pause, a failure).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

/// The whole record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub grant: String,
    pub user: String,
    pub requested_by: Option<String>,
    pub policy: String,
    pub reason: String,
    pub incident: Option<String>,
    /// The STS session that made the AWS changes: what to search CloudTrail for.
    pub cloudtrail_session: Option<String>,
    /// Where the AWS-side session guard stands (`Revoked`: open sessions were cut).
    pub session_guard: Option<String>,
    pub timeline: Vec<Entry>,
    /// What each paused target's automation would have changed when given back.
    pub drift: Vec<TargetDrift>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetDrift {
    pub target: String,
    pub state: String,
    pub drift: breakglass_api::Drift,
}

/// An Event as the report needs it: when, why, what it said, whether a warning.
pub struct Seen {
    pub at: Timestamp,
    pub reason: String,
    pub note: String,
    pub warning: bool,
}

/// Builds the record (pure): the grant's own times, then every Event, in time order.
/// `Granted` and `Ended` Events say what the status already says and are left out.
pub fn build(g: &BreakGlassGrant, events: Vec<Seen>) -> Report {
    let status = g.status.clone().unwrap_or_default();
    let mut timeline = vec![];
    let entry = |at: Timestamp, event: &str, detail: String| Entry {
        at,
        event: event.to_owned(),
        detail,
        warning: false,
    };
    if let Some(created) = &g.metadata.creation_timestamp {
        timeline.push(entry(
            created.0,
            "Requested",
            format!(
                "{} asked for {} under policy {}: {}",
                g.spec.requested_by.as_deref().unwrap_or("<unknown>"),
                g.spec.user,
                g.spec.policy,
                g.spec.reason
            ),
        ));
    }
    if let Some(at) = &status.granted_at {
        let until = status
            .expires_at
            .as_ref()
            .map(|t| format!(" until {}", t.0))
            .unwrap_or_default();
        timeline.push(entry(at.0, "Granted", format!("access given{until}")));
    }
    for e in events {
        // Said by the status already (SessionsRevoked: its `revokedAt`).
        if e.reason == "Granted" || e.reason == "Ended" || e.reason == "SessionsRevoked" {
            continue;
        }
        timeline.push(Entry {
            at: e.at,
            event: e.reason,
            detail: e.note,
            warning: e.warning,
        });
    }
    if let Some(at) = status.sessions.as_ref().and_then(|s| s.revoked_at.as_ref()) {
        timeline.push(entry(
            at.0,
            "SessionsCut",
            "AWS denies the sessions issued before the end".into(),
        ));
    }
    if let Some(at) = &status.ended_at {
        let why = status
            .end_reason
            .map(|r| format!("{r:?}"))
            .unwrap_or_else(|| "ended".into());
        timeline.push(entry(at.0, "Ended", format!("access removed ({why})")));
    }
    timeline.sort_by_key(|e| e.at);
    Report {
        grant: format!(
            "{}/{}",
            g.metadata.namespace.clone().unwrap_or_default(),
            g.metadata.name.clone().unwrap_or_default()
        ),
        user: g.spec.user.clone(),
        requested_by: g.spec.requested_by.clone(),
        policy: g.spec.policy.clone(),
        reason: g.spec.reason.clone(),
        incident: g.spec.incident.as_ref().map(|i| i.id.clone()),
        cloudtrail_session: status.aws.map(|a| a.session_name),
        session_guard: status.sessions.as_ref().map(guard_summary),
        timeline,
        drift: status
            .paused_targets
            .iter()
            .filter_map(|t| {
                Some(TargetDrift {
                    target: t.target().to_string(),
                    state: format!("{:?}", t.state),
                    drift: t.drift.clone()?,
                })
            })
            .collect(),
    }
}

/// The guard in a line: its state, why, and when open sessions were cut.
pub fn guard_summary(s: &breakglass_api::SessionsStatus) -> String {
    let mut line = format!("{:?}", s.state);
    if let Some(r) = &s.reason {
        line.push_str(&format!(" ({r})"));
    }
    if let Some(at) = &s.revoked_at {
        line.push_str(&format!(", open sessions cut at {}", at.0));
    }
    if let Some(m) = &s.message {
        line.push_str(&format!(": {m}"));
    }
    line
}

/// The record as Markdown, to paste into a post-mortem.
pub fn markdown(r: &Report) -> String {
    let mut out = vec![
        format!("## Break-glass access: {}", r.grant),
        String::new(),
        format!("- **User:** {}", r.user),
        format!(
            "- **Requested by:** {}",
            r.requested_by.as_deref().unwrap_or("<unknown>")
        ),
        format!("- **Policy:** {}", r.policy),
        format!("- **Reason:** {}", r.reason),
    ];
    if let Some(i) = &r.incident {
        out.push(format!("- **Incident:** {i}"));
    }
    if let Some(g) = &r.session_guard {
        out.push(format!("- **Session guard:** {g}"));
    }
    if let Some(s) = &r.cloudtrail_session {
        out.push(format!(
            "- **CloudTrail:** search for role session name `{s}`"
        ));
    }
    out.push(String::new());
    out.push("| time (UTC) | event | detail |".into());
    out.push("|---|---|---|".into());
    for e in &r.timeline {
        let flag = if e.warning { " ⚠" } else { "" };
        out.push(format!(
            "| {} | {}{flag} | {} |",
            e.at,
            e.event,
            e.detail.replace('|', "\\|").replace('\n', " ")
        ));
    }
    if !r.drift.is_empty() {
        out.push(String::new());
        out.push("### End state: what the automation would change".into());
        out.push(String::new());
        for d in &r.drift {
            out.push(format!(
                "- **{}** ({}): {}",
                d.target, d.state, d.drift.summary
            ));
            for res in &d.drift.resources {
                let ns = res
                    .namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default();
                out.push(format!("  - {} {ns}{}: {}", res.kind, res.name, res.status));
            }
        }
    }
    out.join("\n")
}

pub async fn report(s: &Session, name: &str, json: bool) -> Result<(), Error> {
    let api: Api<BreakGlassGrant> = Api::namespaced(s.client.clone(), &s.namespace);
    let g = api
        .get(name)
        .await
        .map_err(kube_error(format!("reading grant {name}")))?;
    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.namespace);
    let listed = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .map_err(kube_error(format!("listing the Events of grant {name}")))?;
    let uid = g.metadata.uid.clone();
    let seen = listed
        .items
        .into_iter()
        .filter(|e| e.involved_object.uid.is_none() || e.involved_object.uid == uid)
        .filter_map(|e| {
            let at = e
                .event_time
                .map(|t| t.0)
                .or(e.first_timestamp.map(|t| t.0))
                .or(e.metadata.creation_timestamp.map(|t| t.0))?;
            Some(Seen {
                at,
                reason: e.reason.unwrap_or_default(),
                note: e.message.unwrap_or_default(),
                warning: e.type_.as_deref() == Some("Warning"),
            })
        })
        .collect();
    let r = build(&g, seen);
    if json {
        super::print(&r, super::Format::Json)
    } else {
        super::say(format_args!("{}", markdown(&r)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_in_time_order_and_says_who_asked() {
        let path = format!(
            "{}/../../tests/fixtures/grant-ended.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let g: BreakGlassGrant = serde_yaml::from_str(&text).expect("grant");
        let at = |s: &str| s.parse::<Timestamp>().expect("time");
        let seen = |t: &str, reason: &str, note: &str, warning| Seen {
            at: at(t),
            reason: reason.into(),
            note: note.into(),
            warning,
        };
        let r = build(
            &g,
            vec![
                seen(
                    "2026-01-01T11:00:03Z",
                    "Paused",
                    "paused Application argocd/payments",
                    false,
                ),
                seen(
                    "2026-01-01T11:20:00Z",
                    "PauseOverridden",
                    "a person re-enabled auto-sync",
                    true,
                ),
                seen(
                    "2026-01-01T11:00:02Z",
                    "Granted",
                    "duplicate of the status",
                    false,
                ),
                seen(
                    "2026-01-01T11:45:01Z",
                    "Restored",
                    "restored Application argocd/payments",
                    false,
                ),
            ],
        );
        let events: Vec<&str> = r.timeline.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            events,
            [
                "Requested",
                "Granted",
                "Paused",
                "PauseOverridden",
                "Ended",
                "Restored"
            ]
        );
        assert_eq!(r.requested_by.as_deref(), Some("carol@example.com"));
        assert_eq!(
            r.cloudtrail_session.as_deref(),
            Some("breakglass@incidents.g")
        );
        let md = markdown(&r);
        assert!(
            md.contains("carol@example.com asked for alice@example.com"),
            "{md}"
        );
        assert!(md.contains("| PauseOverridden ⚠ |"), "{md}");
        assert!(md.contains("`breakglass@incidents.g`"), "{md}");
    }

    #[test]
    fn the_guard_and_when_open_sessions_were_cut_are_in_the_record() {
        let path = format!(
            "{}/../../tests/fixtures/grant-ended.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut g: BreakGlassGrant = serde_yaml::from_str(&text).expect("grant");
        let cut: Timestamp = "2026-01-01T11:45:04Z".parse().expect("time");
        g.status.as_mut().expect("status").sessions = Some(breakglass_api::SessionsStatus {
            state: breakglass_api::GuardState::Revoked,
            reason: None,
            message: None,
            revoked_at: Some(breakglass_api::Time(cut)),
            permission_sets: vec![],
        });
        let sessions_revoked = Seen {
            at: cut,
            reason: "SessionsRevoked".into(),
            note: "sessions issued before the end are denied".into(),
            warning: false,
        };
        let r = build(&g, vec![sessions_revoked]);
        assert_eq!(
            r.session_guard.as_deref(),
            Some("Revoked, open sessions cut at 2026-01-01T11:45:04Z")
        );
        let cuts: Vec<&Entry> = r.timeline.iter().filter(|e| e.at == cut).collect();
        assert_eq!(cuts.len(), 1, "once, from the status: {:?}", r.timeline);
        assert_eq!(cuts[0].event, "SessionsCut");
        assert!(r.timeline.windows(2).all(|w| w[0].at <= w[1].at));
        let md = markdown(&r);
        assert!(
            md.contains("**Session guard:** Revoked, open sessions cut at"),
            "{md}"
        );
        let shown = crate::show::describe(&g, cut);
        assert!(
            shown.contains("Sessions:     Revoked, open sessions cut at"),
            "{shown}"
        );
    }
}
