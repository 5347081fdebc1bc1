//! `request` and `resolve`: the two writes a person makes.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};

use super::{Error, Session, kube_error};
use breakglass_api::{
    BreakGlassGrant, BreakGlassGrantSpec, GrantPhase, Incident, IncidentSource,
    requester::{user_of, whoami},
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The BreakGlassPolicy to ask under.
    #[arg(long)]
    policy: String,
    /// Why access is needed; kept as the record.
    #[arg(long)]
    reason: String,
    /// How long (Go duration, e.g. 2h); the policy's default when omitted.
    #[arg(long)]
    duration: Option<String>,
    /// The incident id, e.g. INC-4211.
    #[arg(long)]
    incident: Option<String>,
    /// Ask for another person (needs the RBAC verb request-on-behalf on the policy).
    #[arg(long = "for")]
    for_user: Option<String>,
    /// Only these accounts (accountAssignment policies); repeat for several.
    #[arg(long = "account")]
    accounts: Vec<String>,
    /// Show progress until the grant is Active (or refused), then how to use the access.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    /// Dropped from your Kubernetes username to get your Identity Store user (as the
    /// cluster's admission policy does), e.g. `oidc:`.
    #[arg(long, env = "BREAKGLASS_USERNAME_PREFIX", default_value = "")]
    username_prefix: String,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    breakglass_api::GoDuration::parse(s)
        .map(|d| d.as_std())
        .map_err(|e| e.to_string())
}

/// A readable name prefix: `inc-4211-alice-` (the API server adds a unique suffix).
fn name_prefix(incident: Option<&str>, policy: &str, user: &str) -> String {
    let slug = |s: &str, max: usize| -> String {
        let mut out: String = s
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        out.truncate(max);
        out.trim_matches('-').to_owned()
    };
    let head = slug(incident.unwrap_or(policy), 30);
    let who = slug(user.split('@').next().unwrap_or(user), 20);
    match (head.is_empty(), who.is_empty()) {
        (false, false) => format!("{head}-{who}-"),
        (false, true) => format!("{head}-"),
        (true, false) => format!("{who}-"),
        (true, true) => "grant-".into(),
    }
}

pub async fn request(s: &Session, a: &Args) -> Result<(), Error> {
    let me = whoami(&s.client).await?;
    let user = a
        .for_user
        .clone()
        .unwrap_or_else(|| user_of(&me, &a.username_prefix));
    let grant = BreakGlassGrant {
        metadata: ObjectMeta {
            generate_name: Some(name_prefix(a.incident.as_deref(), &a.policy, &user)),
            namespace: Some(s.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: BreakGlassGrantSpec {
            policy: a.policy.clone(),
            user: user.clone(),
            reason: a.reason.clone(),
            duration: a.duration.clone(),
            incident: a.incident.clone().map(|id| Incident {
                id,
                url: None,
                source: IncidentSource::Manual,
            }),
            account_ids: (!a.accounts.is_empty()).then(|| a.accounts.clone()),
            requested_by: Some(me.clone()),
            resolved: false,
        }
        .into(),
        status: None,
    };
    let api: Api<BreakGlassGrant> = Api::namespaced(s.client.clone(), &s.namespace);
    let created = api
        .create(&PostParams::default(), &grant)
        .await
        .map_err(kube_error(format!(
            "creating a grant for {user} under policy {}",
            a.policy
        )))?;
    let name = created.metadata.name.clone().unwrap_or_default();
    super::say(format_args!(
        "breakglassgrant/{name} created in {}: {user} under policy {}, requested by {me}",
        s.namespace, a.policy
    ));
    if a.wait {
        wait(&api, &name, a.timeout).await?;
    }
    Ok(())
}

/// Shows each new phase until the grant is Active (then how to use it) or refused.
async fn wait(api: &Api<BreakGlassGrant>, name: &str, timeout: Duration) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        let g = api
            .get(name)
            .await
            .map_err(kube_error(format!("reading grant {name}")))?;
        let status = g.status.clone().unwrap_or_default();
        let message = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        if last != status.phase {
            last = status.phase;
            if let Some(phase) = status.phase {
                super::say(format_args!("{phase:?}: {message}"));
            }
        }
        match status.phase {
            Some(GrantPhase::Active) => {
                super::say(format_args!("{}", super::show::how_to_use(&g)));
                return Ok(());
            }
            Some(GrantPhase::Denied) | Some(GrantPhase::Ended) => {
                let why = status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Stalled" && c.status == "True")
                    .map(|c| c.message.clone())
                    .unwrap_or(message);
                return Err(Error::NotGranted(format!(
                    "grant {name} was not given: {why}"
                )));
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Output(format!(
                "grant {name} is not Active after {}s; follow it with: kubectl breakglass status {name}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn resolve(s: &Session, name: &str) -> Result<(), Error> {
    let api: Api<BreakGlassGrant> = Api::namespaced(s.client.clone(), &s.namespace);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"resolved": true}})),
    )
    .await
    .map_err(kube_error(format!("resolving grant {name}")))?;
    super::say(format_args!(
        "breakglassgrant/{name} resolved: access is being removed and automation given back"
    ));
    Ok(())
}

pub async fn restore(s: &Session, name: &str) -> Result<(), Error> {
    let api: Api<BreakGlassGrant> = Api::namespaced(s.client.clone(), &s.namespace);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(
            serde_json::json!({"metadata": {"annotations": {breakglass_api::pause::RESTORE: "now"}}}),
        ),
    )
    .await
    .map_err(kube_error(format!(
        "asking grant {name} to give its automation back"
    )))?;
    super::say(format_args!(
        "breakglassgrant/{name}: automation held for review is being given back"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::name_prefix;

    #[test]
    fn names_are_readable_and_valid() {
        assert_eq!(
            name_prefix(Some("INC-4211"), "prod", "alice@example.com"),
            "inc-4211-alice-"
        );
        assert_eq!(
            name_prefix(None, "prod-admin", "Bob.Smith@x"),
            "prod-admin-bob-smith-"
        );
        assert_eq!(name_prefix(Some("---"), "p", "@"), "grant-");
    }
}
