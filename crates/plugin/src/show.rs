//! `list` and `status`: what is granted, to whom, asked by whom, and what is paused.

use k8s_openapi::jiff::Timestamp;
use kube::{Api, api::ListParams};

use super::{Error, Format, Session, kube_error, print};
use breakglass_api::{BreakGlassGrant, GrantPhase};

/// `1h32m`, `4m`, `<1m`; `-` when there is no expiry, `expired` when it passed.
fn expires_in(g: &BreakGlassGrant, now: Timestamp) -> String {
    let status = g.status.as_ref();
    if matches!(
        status.and_then(|s| s.phase),
        Some(GrantPhase::Ended | GrantPhase::Denied)
    ) {
        return "-".into();
    }
    let Some(at) = status.and_then(|s| s.expires_at.as_ref()) else {
        return "-".into();
    };
    let secs = at.0.as_second() - now.as_second();
    match secs {
        s if s <= 0 => "expired".into(),
        s if s < 60 => "<1m".into(),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn phase(g: &BreakGlassGrant) -> String {
    g.status
        .as_ref()
        .and_then(|s| s.phase)
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "Pending".into())
}

/// One row per grant, aligned like kubectl's tables.
pub fn table(grants: &[BreakGlassGrant], with_namespace: bool, now: Timestamp) -> String {
    let mut rows: Vec<Vec<String>> = vec![];
    let mut head = vec![
        "NAME",
        "USER",
        "POLICY",
        "PHASE",
        "EXPIRES IN",
        "REQUESTED BY",
    ];
    if with_namespace {
        head.insert(0, "NAMESPACE");
    }
    rows.push(head.iter().map(|s| s.to_string()).collect());
    for g in grants {
        let mut row = vec![
            g.metadata.name.clone().unwrap_or_default(),
            g.spec.user.clone(),
            g.spec.policy.clone(),
            phase(g),
            expires_in(g, now),
            g.spec
                .requested_by
                .clone()
                .unwrap_or_else(|| "<unknown>".into()),
        ];
        if with_namespace {
            row.insert(0, g.metadata.namespace.clone().unwrap_or_default());
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect::<Vec<_>>()
                .join("   ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn list(s: &Session, all: bool, output: Option<Format>) -> Result<(), Error> {
    let api: Api<BreakGlassGrant> = if all {
        Api::all(s.client.clone())
    } else {
        Api::namespaced(s.client.clone(), &s.namespace)
    };
    let mut grants = api
        .list(&ListParams::default())
        .await
        .map_err(kube_error("listing grants"))?
        .items;
    grants.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    match output {
        Some(f) => print(&grants, f),
        None if grants.is_empty() => {
            eprintln!("No grants found.");
            Ok(())
        }
        None => {
            super::say(format_args!("{}", table(&grants, all, Timestamp::now())));
            Ok(())
        }
    }
}

/// How to use the access a grant gives, once it is Active.
pub fn how_to_use(g: &BreakGlassGrant) -> String {
    let name = g.metadata.name.clone().unwrap_or_default();
    let ns = g.metadata.namespace.clone().unwrap_or_default();
    let status = g.status.clone().unwrap_or_default();
    let until = status
        .expires_at
        .map(|t| t.0.to_string())
        .unwrap_or_else(|| "its expiry".into());
    let mut lines = vec![];
    let (membership, assignments) = match status.access {
        Some(a) => (a.group_membership, a.account_assignments),
        None => (None, vec![]),
    };
    if let Some(m) = membership {
        let group = m.group_name.unwrap_or(m.group_id);
        lines.push(format!(
            "{} is in Identity Store group {group} until {until}: sign in through your AWS access portal (aws sso login) and use what the group is assigned.",
            g.spec.user
        ));
    }
    for a in assignments {
        lines.push(format!(
            "account {}: permission set {} ({:?}) until {until}: aws sso login, then pick account {} and that permission set.",
            a.account_id, a.permission_set_arn, a.state, a.account_id
        ));
    }
    if let Some(session) = status.aws {
        lines.push(format!(
            "CloudTrail: the change was made by session {} of {}.",
            session.session_name, session.role_arn
        ));
    }
    lines.push(format!(
        "End it early when the repair is done: kubectl breakglass resolve {name} -n {ns}"
    ));
    lines.join("\n")
}

pub async fn status(s: &Session, name: &str, output: Option<Format>) -> Result<(), Error> {
    let api: Api<BreakGlassGrant> = Api::namespaced(s.client.clone(), &s.namespace);
    let g = api
        .get(name)
        .await
        .map_err(kube_error(format!("reading grant {name}")))?;
    if let Some(f) = output {
        return print(&g, f);
    }
    super::say(format_args!("{}", describe(&g, Timestamp::now())));
    Ok(())
}

/// The human view of one grant.
pub fn describe(g: &BreakGlassGrant, now: Timestamp) -> String {
    let status = g.status.clone().unwrap_or_default();
    let mut out = vec![
        format!(
            "Grant:        {}/{}",
            g.metadata.namespace.clone().unwrap_or_default(),
            g.metadata.name.clone().unwrap_or_default()
        ),
        format!("User:         {}", g.spec.user),
        format!(
            "Requested by: {}",
            g.spec.requested_by.as_deref().unwrap_or("<unknown>")
        ),
        format!("Policy:       {}", g.spec.policy),
        format!("Reason:       {}", g.spec.reason),
        format!("Phase:        {}", phase(g)),
        format!("Expires in:   {}", expires_in(g, now)),
    ];
    if let Some(r) = status.end_reason {
        out.push(format!("Ended:        {r:?}"));
    }
    if let Some(session) = &status.aws {
        out.push(format!(
            "CloudTrail:   session {} of {}",
            session.session_name, session.role_arn
        ));
    }
    out.push("Conditions:".into());
    for c in &status.conditions {
        out.push(format!(
            "  {:<17} {:<6} {:<24} {}",
            c.type_, c.status, c.reason, c.message
        ));
    }
    if let Some(access) = &status.access {
        out.push("Access:".into());
        if let Some(m) = &access.group_membership {
            out.push(format!(
                "  group {} in {} (membership {})",
                m.group_name.clone().unwrap_or_else(|| m.group_id.clone()),
                m.identity_store_id,
                m.membership_id.as_deref().unwrap_or("-")
            ));
        }
        for a in &access.account_assignments {
            out.push(format!(
                "  account {} {} {:?} {}",
                a.account_id,
                a.permission_set_arn,
                a.state,
                a.message.as_deref().unwrap_or("")
            ));
        }
    }
    if let Some(guard) = &status.sessions {
        out.push(format!(
            "Sessions:     {}",
            super::report::guard_summary(guard)
        ));
        for ps in &guard.permission_sets {
            out.push(format!(
                "  {} {:?} {}",
                ps.permission_set_arn,
                ps.state,
                ps.request_id
                    .as_deref()
                    .map(|r| format!("(provisioning {r})"))
                    .unwrap_or_default()
            ));
        }
    }
    if !status.paused_targets.is_empty() {
        out.push("Paused targets:".into());
        for t in &status.paused_targets {
            out.push(format!(
                "  {} {:?} {:?} {}",
                t.target(),
                t.method,
                t.state,
                t.message.as_deref().unwrap_or("")
            ));
        }
    }
    out.iter()
        .map(|l| l.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}
