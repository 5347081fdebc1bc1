//! The ledger: a durable record of every group member and account assignment the operator
//! added, so whatever it added it can always take back, even once the grant is gone.
//!
//! One ConfigMap per (target, user) — (Identity Store, group, user) or (instance, account,
//! permission set, user) — in the operator's own namespace, written
//! *before* the membership is created and deleted by the sweep once AWS lists no such
//! member and no grant holds it. Why there: it outlives the grant (no owner reference, so a
//! grant deleted with its finalizer stripped leaves it behind), survives restarts, is not
//! writable by requesters (who can patch grants, not the operator's namespace), and one
//! object per member means a burst of grants makes independent creates, never a conflict
//! on a shared list or an object growing past etcd's size limit.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::ConfigMap,
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions},
};

use crate::targets::{AccountTarget, GroupTarget, Target};

pub const LABEL: &str = "breakglass.dev/ledger";

#[derive(Debug, thiserror::Error)]
#[error("{action} ledger entry {namespace}/{name}: {source}")]
pub struct Error {
    action: &'static str,
    namespace: String,
    name: String,
    #[source]
    source: kube::Error,
}

/// One member the operator added (or is about to add).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub target: Target,
    pub user_id: String,
    /// For people reading the ConfigMap: who, and for which grant it was first added.
    pub user: String,
    pub grant: String,
    /// The role that added it, to take it back should its policy be gone.
    pub role_arn: String,
    pub external_id: Option<String>,
    pub region: Option<String>,
    /// The stored object's version, when read: forgetting is conditional on it.
    pub version: Option<String>,
    /// When a grant last recorded it (created or touched), when read. Its add may land up
    /// to one AWS call deadline later: a list taken before that may not show it yet.
    pub recorded_at: Option<Timestamp>,
}

#[derive(Clone)]
pub struct Ledger {
    api: Api<ConfigMap>,
    namespace: String,
}

/// FNV-1a: stable across releases, so a restarted operator finds the same names.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn name(target: &Target, user_id: &str) -> String {
    match target {
        Target::Group(g) => {
            let key = format!("{}/{}/{user_id}", g.identity_store_id, g.group_id);
            format!("breakglass-member-{:016x}", fnv(&key))
        }
        Target::Account(a) => {
            let key = format!(
                "{}/{}/{}/{user_id}",
                a.instance_arn, a.account_id, a.permission_set_arn
            );
            format!("breakglass-assignment-{:016x}", fnv(&key))
        }
    }
}

impl Entry {
    /// The entry for `user_id` on `target`, added for `grant` as `aws`'s write role.
    pub fn new(
        target: Target,
        user_id: &str,
        user: &str,
        grant: &crate::api::GrantKey,
        aws: &crate::aws::ActAs,
    ) -> Self {
        Self {
            target,
            user_id: user_id.to_owned(),
            user: user.to_owned(),
            grant: grant.to_string(),
            role_arn: aws.role_arn.clone(),
            external_id: aws.external_id.clone(),
            region: aws.region.clone(),
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

    fn to_config_map(&self) -> ConfigMap {
        let mut data = match &self.target {
            Target::Group(g) => BTreeMap::from([
                ("identityStoreId".to_owned(), g.identity_store_id.clone()),
                ("groupId".to_owned(), g.group_id.clone()),
            ]),
            Target::Account(a) => BTreeMap::from([
                ("instanceArn".to_owned(), a.instance_arn.clone()),
                ("accountId".to_owned(), a.account_id.clone()),
                ("permissionSetArn".to_owned(), a.permission_set_arn.clone()),
            ]),
        };
        data.extend([
            ("userId".to_owned(), self.user_id.clone()),
            ("user".to_owned(), self.user.clone()),
            ("grant".to_owned(), self.grant.clone()),
            ("roleArn".to_owned(), self.role_arn.clone()),
        ]);
        if let Some(e) = &self.external_id {
            data.insert("externalId".into(), e.clone());
        }
        if let Some(r) = &self.region {
            data.insert("region".into(), r.clone());
        }
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name(&self.target, &self.user_id)),
                labels: Some(BTreeMap::from([
                    (LABEL.to_owned(), "member".to_owned()),
                    (
                        "app.kubernetes.io/managed-by".to_owned(),
                        "breakglass-operator".to_owned(),
                    ),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(data),
            ..ConfigMap::default()
        }
    }

    fn from_config_map(cm: &ConfigMap) -> Option<Self> {
        let d = cm.data.as_ref()?;
        let get = |k: &str| d.get(k).cloned();
        let target = match get("groupId") {
            Some(group_id) => Target::Group(GroupTarget {
                identity_store_id: get("identityStoreId")?,
                group_id,
            }),
            None => Target::Account(AccountTarget {
                instance_arn: get("instanceArn")?,
                account_id: get("accountId")?,
                permission_set_arn: get("permissionSetArn")?,
            }),
        };
        Some(Self {
            target,
            user_id: get("userId")?,
            user: get("user").unwrap_or_default(),
            grant: get("grant").unwrap_or_default(),
            role_arn: get("roleArn")?,
            external_id: get("externalId"),
            region: get("region"),
            version: cm.metadata.resource_version.clone(),
            recorded_at: get("recordedAt").and_then(|t| t.parse().ok()),
        })
    }
}

impl Ledger {
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
        }
    }

    fn error(&self, action: &'static str, name: String, source: kube::Error) -> Error {
        Error {
            action,
            namespace: self.namespace.clone(),
            name,
            source,
        }
    }

    /// Records a member before it is added: `true` when newly recorded. One already
    /// recorded (an overlapping grant, a retry) is touched instead, so a sweep that meant to
    /// forget it as settled finds a newer version and leaves it.
    pub async fn record(&self, entry: &Entry) -> Result<bool, Error> {
        let recorded_at = Timestamp::now().to_string();
        let mut cm = entry.to_config_map();
        cm.data
            .get_or_insert_default()
            .insert("recordedAt".into(), recorded_at.clone());
        let name = cm.name_any();
        match self.api.create(&PostParams::default(), &cm).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let touch = ConfigMap {
                    data: Some(BTreeMap::from([
                        ("grant".to_owned(), entry.grant.clone()),
                        ("recordedAt".to_owned(), recorded_at),
                    ])),
                    ..ConfigMap::default()
                };
                self.api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&touch))
                    .await
                    .map_err(|e| self.error("touching", name.clone(), e))?;
                Ok(false)
            }
            Err(e) => Err(self.error("writing", name, e)),
        }
    }

    /// Whether the member is recorded (an earlier attempt of a grant added it, or another
    /// grant holds it).
    pub async fn has(&self, target: &Target, user_id: &str) -> Result<bool, Error> {
        let name = name(target, user_id);
        self.api
            .get_opt(&name)
            .await
            .map(|cm| cm.is_some())
            .map_err(|e| self.error("reading", name, e))
    }

    /// Every recorded member, by target and user id (one list per sweep).
    pub async fn all(&self) -> Result<BTreeMap<Target, BTreeMap<String, Entry>>, Error> {
        let list = self
            .api
            .list(&ListParams::default().labels(&format!("{LABEL}=member")))
            .await
            .map_err(|e| self.error("listing", "*".into(), e))?;
        let mut out: BTreeMap<Target, BTreeMap<String, Entry>> = BTreeMap::new();
        for entry in list.items.iter().filter_map(Entry::from_config_map) {
            out.entry(entry.target.clone())
                .or_default()
                .insert(entry.user_id.clone(), entry);
        }
        Ok(out)
    }

    /// Forgets a member that is gone from AWS and held by no grant, unless the entry
    /// changed since it was read (a new grant recorded it again meanwhile).
    pub async fn forget(&self, entry: &Entry) -> Result<(), Error> {
        let name = name(&entry.target, &entry.user_id);
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
            Err(e) => Err(self.error("deleting", name, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_names_are_stable_per_member() {
        let entry = Entry {
            target: Target::Group(GroupTarget {
                identity_store_id: "d-1".into(),
                group_id: "g-1".into(),
            }),
            user_id: "u-1".into(),
            user: "alice@example.com".into(),
            grant: "incidents/inc-1".into(),
            role_arn: "arn:aws:iam::111111111111:role/bg".into(),
            external_id: Some("x".into()),
            region: None,
            version: None,
            recorded_at: None,
        };
        let cm = entry.to_config_map();
        assert_eq!(Entry::from_config_map(&cm), Some(entry.clone()));
        assert_eq!(cm.name_any(), name(&entry.target, "u-1"));
        assert_eq!(
            cm.name_any(),
            "breakglass-member-".to_owned() + &format!("{:016x}", fnv("d-1/g-1/u-1"))
        );
        assert_ne!(name(&entry.target, "u-2"), cm.name_any());

        let assigned = Entry {
            target: Target::Account(AccountTarget {
                instance_arn: "arn:aws:sso:::instance/ssoins-0000000000000001".into(),
                account_id: "222222222222".into(),
                permission_set_arn:
                    "arn:aws:sso:::permissionSet/ssoins-0000000000000001/ps-0000000000000001".into(),
            }),
            ..entry
        };
        let cm = assigned.to_config_map();
        assert_eq!(Entry::from_config_map(&cm), Some(assigned.clone()));
        assert!(cm.name_any().starts_with("breakglass-assignment-"));
    }

    /// The sweep's race: a member recorded just before a list may still be on its way to
    /// AWS; the list proves nothing about it until one call deadline has passed.
    #[test]
    fn an_entry_recorded_within_a_call_deadline_of_the_list_is_in_flight() {
        let at = |s: &str| -> Timestamp { s.parse().expect("time") };
        let deadline = std::time::Duration::from_secs(33);
        let mut entry = Entry::new(
            Target::Group(GroupTarget {
                identity_store_id: "d-1".into(),
                group_id: "g-1".into(),
            }),
            "u-1",
            "alice@example.com",
            &crate::api::GrantKey::new("incidents", "inc-1"),
            &crate::aws::ActAs {
                role_arn: "arn:aws:iam::111111111111:role/bg".into(),
                read_role_arn: None,
                external_id: None,
                region: None,
                identity_store_id: "d-1".into(),
                session_name: "s".into(),
            },
        );
        let listed = at("2026-12-02T10:00:00Z");
        assert!(
            !entry.in_flight(listed, deadline),
            "no record time: an old entry"
        );
        entry.recorded_at = Some(at("2026-12-02T09:59:50Z"));
        assert!(
            entry.in_flight(listed, deadline),
            "its add may land after the list"
        );
        entry.recorded_at = Some(at("2026-12-02T09:59:00Z"));
        assert!(
            !entry.in_flight(listed, deadline),
            "landed or failed before the list"
        );
        entry.recorded_at = Some(at("2026-12-02T10:00:05Z"));
        assert!(
            entry.in_flight(listed, deadline),
            "recorded after the list began"
        );
    }
}
