//! Carrying out a decision: new grants created and existing ones updated, at most
//! `WRITE_CONCURRENCY` API calls in flight, so a storm is written in parallel without
//! flooding the API server.
//!
//! `status.alerts` is changed with a merge patch carrying the `resourceVersion` it was
//! computed from: two writers (requests, replicas) never lose each other's alerts; the
//! loser re-reads and merges again.

use futures::{StreamExt, stream};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;
use tracing::warn;

use super::aggregate::merge;
use crate::{
    api::{AlertState, BreakGlassGrant, GrantAlert, GrantKey},
    webhook::cache::Cache,
};

/// API calls in flight at once for one notification.
pub const WRITE_CONCURRENCY: usize = 16;
/// Attempts of a status update that keeps meeting a newer version.
const CONFLICT_ATTEMPTS: usize = 5;
pub const FIELD_MANAGER: &str = "breakglass-webhook";

/// What became of one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A new grant (namespace/name), opened or (all its alerts resolved) born resolved.
    Created { id: GrantKey, resolved: bool },
    /// Alerts recorded on an existing grant; `resolved` when that ended it.
    Updated { id: GrantKey, resolved: bool },
    /// The API server refused it for good (unknown namespace, invalid): retrying won't help.
    Refused { id: GrantKey, why: String },
    /// Failed; Alertmanager should retry.
    Failed { id: GrantKey, why: String },
}

/// A grant to create (built, typed) and the alerts to record on it.
pub struct NewGrant {
    pub grant: BreakGlassGrant,
    pub alerts: Vec<GrantAlert>,
}

enum Job {
    Create(Box<NewGrant>),
    Update(String, String, Vec<GrantAlert>),
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// Writes through the cache's client, and keeps what it wrote in the cache.
pub struct Writer<'a> {
    pub cache: &'a Cache,
    /// The webhook's own username: a grant of the same name requested by anyone else is
    /// not one to record alerts on.
    pub requested_by: &'a str,
}

impl Writer<'_> {
    /// Runs every create and update, `WRITE_CONCURRENCY` at a time.
    pub async fn run(
        &self,
        creates: Vec<NewGrant>,
        updates: Vec<(String, String, Vec<GrantAlert>)>,
    ) -> Vec<Written> {
        let jobs = creates.into_iter().map(|c| Job::Create(Box::new(c))).chain(
            updates
                .into_iter()
                .map(|(ns, name, upserts)| Job::Update(ns, name, upserts)),
        );
        stream::iter(jobs)
            .map(|job| self.job(job))
            .buffer_unordered(WRITE_CONCURRENCY)
            .collect()
            .await
    }

    async fn job(&self, job: Job) -> Written {
        match job {
            Job::Create(c) => self.create(*c).await,
            Job::Update(ns, name, upserts) => self
                .update(&ns, &name, &upserts, None)
                .await
                .unwrap_or_else(|why| Written::Failed {
                    id: GrantKey::new(ns, name),
                    why,
                }),
        }
    }

    /// A write that failed; a grant found gone is forgotten, so Alertmanager's retry (the
    /// answer is a 5xx) decides afresh instead of writing to it again.
    fn failed(&self, ns: &str, name: &str, e: kube::Error) -> String {
        if matches!(&e, kube::Error::Api(s) if s.is_not_found()) {
            self.cache.forget(ns, name);
        }
        e.to_string()
    }

    async fn create(&self, c: NewGrant) -> Written {
        let grant = c.grant;
        let (ns, name) = (grant.namespace().unwrap_or_default(), grant.name_any());
        let id = GrantKey::new(&ns, &name);
        let api: Api<BreakGlassGrant> = Api::namespaced(self.cache.client.clone(), &ns);
        self.cache.metrics.webhook_write("create");
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        let created = match api.create(&params, &grant).await {
            Ok(g) => g,
            // A retry, or another replica, got there first: record the alerts on it — if it
            // is the webhook's own, not one made under the name it would choose.
            Err(kube::Error::Api(s)) if s.is_already_exists() => {
                let existing = match self.read(&api, &ns, &name).await {
                    Ok(g) => g,
                    Err(why) => return Written::Failed { id, why },
                };
                if existing.spec.requested_by.as_deref() != Some(self.requested_by) {
                    warn!(grant = %id, requested_by = ?existing.spec.requested_by, "a grant the webhook did not request holds the name of the one it would open; its alerts are not recorded there");
                    return Written::Refused {
                        id,
                        why: format!(
                            "a grant of this name exists that the webhook did not request (requestedBy {:?})",
                            existing.spec.requested_by.as_deref().unwrap_or_default()
                        ),
                    };
                }
                return self
                    .update(&ns, &name, &c.alerts, Some(existing))
                    .await
                    .unwrap_or_else(|why| Written::Failed { id, why });
            }
            Err(kube::Error::Api(s)) if s.is_not_found() || s.is_invalid() || s.code == 403 => {
                return Written::Refused { id, why: s.message };
            }
            Err(e) => {
                return Written::Failed {
                    id,
                    why: e.to_string(),
                };
            }
        };
        self.cache.metrics.grant_created("alertmanager");
        let resolved = grant.spec.resolved;
        self.cache.remember(created.clone());
        match self.update(&ns, &name, &c.alerts, Some(created)).await {
            Ok(_) => Written::Created { id, resolved },
            Err(why) => Written::Failed { id, why },
        }
    }

    /// The grant as the cache knows it, else as the API server serves it.
    async fn read(
        &self,
        api: &Api<BreakGlassGrant>,
        ns: &str,
        name: &str,
    ) -> Result<BreakGlassGrant, String> {
        if let Some(g) = self.cache.get(ns, name) {
            return Ok(g);
        }
        self.cache.metrics.webhook_write("get");
        api.get(name).await.map_err(|e| self.failed(ns, name, e))
    }

    /// Records `upserts` on the grant, and resolves it when every alert it stands for is
    /// resolved. `seen` is the grant as last read (else it is read now).
    async fn update(
        &self,
        ns: &str,
        name: &str,
        upserts: &[GrantAlert],
        mut seen: Option<BreakGlassGrant>,
    ) -> Result<Written, String> {
        let api: Api<BreakGlassGrant> = Api::namespaced(self.cache.client.clone(), ns);
        let id = GrantKey::new(ns, name);
        for _ in 0..CONFLICT_ATTEMPTS {
            let current = match seen.take() {
                Some(g) => g,
                None => self.read(&api, ns, name).await?,
            };
            let before = current
                .status
                .as_ref()
                .map(|s| s.alerts.clone())
                .unwrap_or_default();
            let after = merge(&before, upserts);
            let mut latest = current.clone();
            if after != before {
                let patch = json!({
                    "metadata": {"resourceVersion": current.resource_version()},
                    "status": {"alerts": after},
                });
                self.cache.metrics.webhook_write("patch_status");
                match api
                    .patch_status(name, &params(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(g) => latest = g,
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        // Someone wrote in between: read afresh and merge again.
                        self.cache.metrics.webhook_write("get");
                        seen = Some(api.get(name).await.map_err(|e| self.failed(ns, name, e))?);
                        continue;
                    }
                    Err(e) => return Err(self.failed(ns, name, e)),
                }
            }
            let all_resolved =
                !after.is_empty() && after.iter().all(|a| a.state == AlertState::Resolved);
            let mut resolved = false;
            if all_resolved && !latest.spec.resolved {
                self.cache.metrics.webhook_write("patch");
                latest = api
                    .patch(
                        name,
                        &params(),
                        &Patch::Merge(json!({"spec": {"resolved": true}})),
                    )
                    .await
                    .map_err(|e| self.failed(ns, name, e))?;
                self.cache.metrics.grant_resolved("alertmanager");
                resolved = true;
            }
            self.cache.remember(latest);
            return Ok(Written::Updated { id, resolved });
        }
        warn!(grant = %id, "webhook gave up recording alerts after repeated conflicts");
        Err(format!(
            "{CONFLICT_ATTEMPTS} conflicting updates in a row; retry"
        ))
    }
}
