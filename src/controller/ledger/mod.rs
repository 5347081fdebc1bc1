//! The ledger: a durable record of every group member and account assignment the operator
//! added, so whatever it added it can always take back, even once the grant is gone.
//!
//! One cluster-scoped `BreakGlassLedgerEntry` per (installation, target, user), written
//! *before* the membership is created and deleted by the sweep once AWS lists no such
//! member and no grant holds it. Why so: it outlives the grant (no owner reference), survives
//! restarts, and only the operator may write it (no user role names the kind, and no
//! namespace's ConfigMap writers reach it). One object per member means a burst of grants
//! makes independent creates, never a conflict on a shared list.
//!
//! What the operator reads back is input all the same: an entry carries no credentials (the
//! role to act with comes from its policy or a grant's recorded session), and one whose
//! name is not the one computed for its content, or of another installation, is ignored
//! and reported.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions},
};

use crate::{
    api::{
        BreakGlassLedgerEntry, LedgerEntryObjectSpec, LedgerEntrySpec, LedgerTarget, Time,
        ledger_entry_name,
    },
    targets::Target,
};
use breakglass_core::sessions::Installation;

pub mod migrate;

pub const LABEL: &str = "breakglass.dev/ledger";
/// Which installation wrote an entry (for people and selectors; the name is what counts).
pub const INSTALLATION_LABEL: &str = "breakglass.dev/installation";

#[derive(Debug, thiserror::Error)]
#[error("{action} ledger entry {name}: {source}")]
pub struct Error {
    action: &'static str,
    name: String,
    #[source]
    source: kube::Error,
}

/// One member the operator added (or is about to add).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub target: Target,
    pub user_id: String,
    /// For people reading the entry: who, and for which grant it was last recorded.
    pub user: String,
    pub grant: String,
    /// That grant's policy: its role takes the member back should the grant be gone.
    pub policy: String,
    /// The stored object's version, when read: forgetting is conditional on it.
    pub version: Option<String>,
    /// When a grant last recorded it (created or touched), when read. Its add may land up
    /// to one AWS call deadline later: a list taken before that may not show it yet.
    pub recorded_at: Option<Timestamp>,
}

/// What one list of the ledger found.
#[derive(Debug, Default)]
pub struct Recorded {
    /// This installation's entries.
    pub by_target: BTreeMap<Target, BTreeMap<String, Entry>>,
    /// Members other installations in the cluster recorded: theirs, never this one's to
    /// remove or report.
    pub others: BTreeMap<Target, BTreeSet<String>>,
    /// Entries no installation wrote as they are (a name other than the one computed for
    /// their content, no valid target): never acted on.
    pub ignored: Vec<String>,
}

#[derive(Clone)]
pub struct Ledger {
    api: Api<BreakGlassLedgerEntry>,
    installation: Installation,
}

impl Entry {
    /// The entry for `user_id` on `target`, added for `grant` under `policy`.
    pub fn new(
        target: Target,
        user_id: &str,
        user: &str,
        grant: &crate::api::GrantKey,
        policy: &str,
    ) -> Self {
        Self {
            target,
            user_id: user_id.to_owned(),
            user: user.to_owned(),
            grant: grant.to_string(),
            policy: policy.to_owned(),
            version: None,
            recorded_at: None,
        }
    }

    /// Whether its add may still have been in flight when a list began at `listed_at`
    /// (recorded less than one AWS call deadline before): then the list proves nothing
    /// about it, and the sweep must not forget it as settled.
    pub fn in_flight(&self, listed_at: Timestamp, call_deadline: std::time::Duration) -> bool {
        let Some(recorded) = self.recorded_at else {
            return false;
        };
        let deadline = SignedDuration::try_from(call_deadline).unwrap_or(SignedDuration::MAX);
        recorded
            .checked_add(deadline)
            .map_or(true, |landed_by| landed_by > listed_at)
    }

    fn to_object(&self, installation: &Installation, now: Timestamp) -> BreakGlassLedgerEntry {
        let spec = LedgerEntrySpec {
            installation: installation.to_string(),
            target: LedgerTarget::from(&self.target),
            user_id: self.user_id.clone(),
            user: self.user.clone(),
            grant: self.grant.clone(),
            policy: self.policy.clone(),
            recorded_at: Time(now),
        };
        let mut obj = BreakGlassLedgerEntry::new(
            &ledger_entry_name(installation.as_str(), &self.target, &self.user_id),
            LedgerEntryObjectSpec(spec),
        );
        obj.metadata.labels = Some(labels(installation));
        obj
    }

    /// The entry `obj` holds, when this installation wrote it as it is.
    fn from_object(obj: &BreakGlassLedgerEntry, installation: &Installation) -> Option<Self> {
        let spec = &obj.spec;
        let target = spec.target.target()?;
        let expected = ledger_entry_name(installation.as_str(), &target, &spec.user_id);
        if spec.installation != installation.as_str() || obj.name_any() != expected {
            return None;
        }
        Some(Self {
            target,
            user_id: spec.user_id.clone(),
            user: spec.user.clone(),
            grant: spec.grant.clone(),
            policy: spec.policy.clone(),
            version: obj.metadata.resource_version.clone(),
            recorded_at: Some(spec.recorded_at.0),
        })
    }
}

fn labels(installation: &Installation) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL.to_owned(), "member".to_owned()),
        (INSTALLATION_LABEL.to_owned(), installation.to_string()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "breakglass-operator".to_owned(),
        ),
    ])
}

impl Ledger {
    pub fn new(client: Client, installation: Installation) -> Self {
        Self {
            api: Api::all(client),
            installation,
        }
    }

    pub fn installation(&self) -> &Installation {
        &self.installation
    }

    fn error(action: &'static str, name: String, source: kube::Error) -> Error {
        Error {
            action,
            name,
            source,
        }
    }

    /// Records a member before it is added: `true` when newly recorded. One already
    /// recorded (an overlapping grant, a retry) is touched instead, so a sweep that meant to
    /// forget it as settled finds a newer version and leaves it.
    pub async fn record(&self, entry: &Entry) -> Result<bool, Error> {
        let now = Timestamp::now();
        let obj = entry.to_object(&self.installation, now);
        let name = obj.name_any();
        match self.api.create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let touch = serde_json::json!({"spec": {
                    "grant": entry.grant,
                    "policy": entry.policy,
                    "recordedAt": Time(now),
                }});
                self.api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&touch))
                    .await
                    .map_err(|e| Self::error("touching", name.clone(), e))?;
                Ok(false)
            }
            Err(e) => Err(Self::error("writing", name, e)),
        }
    }

    /// Whether the member is recorded (an earlier attempt of a grant added it, or another
    /// grant holds it).
    pub async fn has(&self, target: &Target, user_id: &str) -> Result<bool, Error> {
        let name = ledger_entry_name(self.installation.as_str(), target, user_id);
        let found = self
            .api
            .get_opt(&name)
            .await
            .map_err(|e| Self::error("reading", name, e))?;
        Ok(found.is_some_and(|o| Entry::from_object(&o, &self.installation).is_some()))
    }

    /// Every member this installation recorded, by target and user id, and those other
    /// installations recorded (one list per sweep); the names of entries nobody wrote as
    /// they are.
    pub async fn all(&self) -> Result<Recorded, Error> {
        let list = self
            .api
            .list(&ListParams::default().labels(&format!("{LABEL}=member")))
            .await
            .map_err(|e| Self::error("listing", "*".into(), e))?;
        let mut out = Recorded::default();
        for obj in &list.items {
            if let Some(entry) = Entry::from_object(obj, &self.installation) {
                out.by_target
                    .entry(entry.target.clone())
                    .or_default()
                    .insert(entry.user_id.clone(), entry);
                continue;
            }
            let theirs = Installation::new(&obj.spec.installation)
                .ok()
                .and_then(|other| Entry::from_object(obj, &other));
            match theirs {
                Some(entry) => {
                    out.others
                        .entry(entry.target)
                        .or_default()
                        .insert(entry.user_id);
                }
                None => out.ignored.push(obj.name_any()),
            }
        }
        Ok(out)
    }

    /// Forgets a member that is gone from AWS and held by no grant, unless the entry
    /// changed since it was read (a new grant recorded it again meanwhile).
    pub async fn forget(&self, entry: &Entry) -> Result<(), Error> {
        let name = ledger_entry_name(self.installation.as_str(), &entry.target, &entry.user_id);
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: entry.version.clone(),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        match self.api.delete(&name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(Self::error("deleting", name, e)),
        }
    }
}

#[cfg(test)]
mod tests;
