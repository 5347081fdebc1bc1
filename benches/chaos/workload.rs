//! The grants people and alerts make during a round: requests for overlapping users on both
//! policies with short durations, resolutions, deletions, alert notifications (firing and
//! resolved) and policy edits that take a user's eligibility away and give it back.

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::{
    Error,
    common::*,
    rng::Rng,
    world::{ALERTNAME, Kind, USERS, World},
};

/// What the workload did, for the report.
#[derive(Default, serde::Serialize, Clone)]
pub struct Counts {
    pub kubectl_grants: u32,
    pub alerts_firing: u32,
    pub alerts_resolved: u32,
    pub resolves: u32,
    pub deletes: u32,
    pub policy_edits: u32,
}

/// An alert the campaign fired and has not resolved yet.
struct Firing {
    fingerprint: String,
    user: &'static str,
}

#[derive(Default)]
pub struct Workload {
    pub counts: Counts,
    firing: Vec<Firing>,
    /// A (policy, user) whose eligibility an edit took away.
    removed: Option<(Kind, &'static str)>,
    serial: u32,
}

impl Workload {
    /// A few random actions.
    pub async fn round(
        &mut self,
        w: &World,
        rng: &mut Rng,
        webhook: &str,
        token: &str,
    ) -> Result<(), Error> {
        for _ in 0..3 + rng.below(4) {
            match rng.below(10) {
                0..=3 => self.request(w, rng, None, None).await?,
                4 => self.resolve_one(w, rng).await?,
                5 => self.delete_one(w, rng).await?,
                6 | 7 => self.alert(w, rng, webhook, token, true),
                8 => self.alert(w, rng, webhook, token, false),
                _ => self.edit_policy(w, rng).await?,
            }
        }
        Ok(())
    }

    /// A grant by kubectl for `user` (random when `None`), on `kind`'s policy (random when
    /// `None`).
    pub async fn request(
        &mut self,
        w: &World,
        rng: &mut Rng,
        kind: Option<Kind>,
        user: Option<&'static str>,
    ) -> Result<(), Error> {
        self.serial += 1;
        let kind = kind.unwrap_or(if rng.chance(50) {
            Kind::Group
        } else {
            Kind::Accounts
        });
        let drawn = USERS[rng.below(USERS.len())];
        let user = user.unwrap_or(drawn);
        let name = format!("k-{}", self.serial);
        let duration = ["20s", "40s", "90s"][rng.below(3)];
        let mut spec = json!({
            "policy": w.policy(kind),
            "user": user,
            "requestedBy": w.s.me,
            "reason": "chaos campaign",
            "incident": {"id": format!("CHAOS-{}", self.serial)},
            "duration": duration,
        });
        if kind == Kind::Accounts && rng.chance(30) {
            spec["accountIds"] = json!([crate::world::ACCOUNTS[rng.below(2)]]);
        }
        grants_raw(&w.s.client, &w.s.ns)
            .create(
                &PostParams::default(),
                &object("BreakGlassGrant", &name, Some(&w.s.ns), spec),
            )
            .await
            .map_err(|source| Error::Kube {
                what: format!("creating grant {name}"),
                source,
            })?;
        self.counts.kubectl_grants += 1;
        Ok(())
    }

    /// A grant that has not ended, if any.
    async fn live_grant(&self, w: &World, rng: &mut Rng) -> Result<Option<String>, Error> {
        let live: Vec<String> = grants(w)
            .await?
            .iter()
            .filter(|g| g["status"]["phase"] != "Ended" && g["spec"]["resolved"] != true)
            .filter_map(|g| g["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        Ok(rng.pick(&live).cloned())
    }

    async fn resolve_one(&mut self, w: &World, rng: &mut Rng) -> Result<(), Error> {
        let Some(name) = self.live_grant(w, rng).await? else {
            return Ok(());
        };
        resolve(w, &name).await?;
        self.counts.resolves += 1;
        Ok(())
    }

    async fn delete_one(&mut self, w: &World, rng: &mut Rng) -> Result<(), Error> {
        let Some(name) = self.live_grant(w, rng).await? else {
            return Ok(());
        };
        let deleted = grants_raw(&w.s.client, &w.s.ns)
            .delete(&name, &DeleteParams::default())
            .await;
        ignore_gone(deleted.map(|_| ()), &name)?;
        self.counts.deletes += 1;
        Ok(())
    }

    /// A firing alert for a random user, or the resolution of one fired earlier. A failed
    /// POST is Alertmanager's business (it retries); the campaign only counts sent ones.
    fn alert(&mut self, w: &World, rng: &mut Rng, webhook: &str, token: &str, firing: bool) {
        let (status, fingerprint, user) = if firing {
            self.serial += 1;
            let user = USERS[rng.below(USERS.len())];
            (
                "firing",
                format!("{:016x}", rng.next() ^ u64::from(self.serial)),
                user,
            )
        } else {
            if self.firing.is_empty() {
                return;
            }
            let f = self.firing.swap_remove(rng.below(self.firing.len()));
            ("resolved", f.fingerprint, f.user)
        };
        let body = payload(w, status, &fingerprint, user);
        let (code, _) = post_json(webhook, Some(token), body.to_string().as_bytes());
        if code == 200 {
            if firing {
                self.firing.push(Firing { fingerprint, user });
                self.counts.alerts_firing += 1;
            } else {
                self.counts.alerts_resolved += 1;
            }
        } else if !firing {
            // Not delivered: it stays firing, to be resolved later.
            self.firing.push(Firing { fingerprint, user });
        }
    }

    /// Takes one user's eligibility away from a policy, or gives it back.
    async fn edit_policy(&mut self, w: &World, rng: &mut Rng) -> Result<(), Error> {
        let (kind, eligible) = match self.removed.take() {
            Some((kind, _)) => (kind, USERS.to_vec()),
            None => {
                let kind = if rng.chance(50) {
                    Kind::Group
                } else {
                    Kind::Accounts
                };
                let user = USERS[rng.below(USERS.len())];
                self.removed = Some((kind, user));
                (kind, USERS.iter().copied().filter(|u| *u != user).collect())
            }
        };
        set_eligible(w, kind, &eligible).await?;
        self.counts.policy_edits += 1;
        Ok(())
    }

    /// Everything back to quiet: eligibility restored, every alert resolved (posted until
    /// the webhook accepts it), every grant resolved.
    pub async fn drain(&mut self, w: &World, webhook: &str, token: &str) -> Result<(), Error> {
        if let Some((kind, _)) = self.removed.take() {
            set_eligible(w, kind, &USERS).await?;
        }
        for f in std::mem::take(&mut self.firing) {
            let body = payload(w, "resolved", &f.fingerprint, f.user).to_string();
            let last = std::cell::RefCell::new(String::new());
            let sent = eventually(SOON, || async {
                let (code, answer) = post_json(webhook, Some(token), body.as_bytes());
                *last.borrow_mut() = format!("{code} {answer}");
                (code == 200).then_some(())
            })
            .await;
            if sent.is_none() {
                return Err(Error::Env {
                    what: "resolving the campaign's alerts",
                    why: format!(
                        "the webhook did not accept the resolution of {} (last answer: {})",
                        f.fingerprint,
                        last.borrow()
                    ),
                });
            }
            self.counts.alerts_resolved += 1;
        }
        for g in grants(w).await? {
            if g["status"]["phase"] == "Ended" || g["spec"]["resolved"] == true {
                continue;
            }
            resolve(w, g["metadata"]["name"].as_str().unwrap_or_default()).await?;
        }
        Ok(())
    }
}

/// `spec.resolved: true`, as `kubectl breakglass resolve` does; a grant gone meanwhile is fine.
async fn resolve(w: &World, name: &str) -> Result<(), Error> {
    let patched = grants_raw(&w.s.client, &w.s.ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"resolved": true}})),
        )
        .await;
    ignore_gone(patched.map(|_| ()), name)
}

async fn set_eligible(w: &World, kind: Kind, users: &[&str]) -> Result<(), Error> {
    policies_raw(&w.s.client)
        .patch(
            w.policy(kind),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"eligibleUsers": users}})),
        )
        .await
        .map(|_| ())
        .map_err(|source| Error::Kube {
            what: format!("editing policy {}", w.policy(kind)),
            source,
        })
}

/// The namespace's grants as JSON (through the API, as a person's kubectl would).
pub async fn grants(w: &World) -> Result<Vec<Value>, Error> {
    let list = grants_raw(&w.s.client, &w.s.ns)
        .list(&Default::default())
        .await
        .map_err(|source| Error::Kube {
            what: "listing grants".into(),
            source,
        })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|g| serde_json::to_value(g).ok())
        .collect())
}

fn ignore_gone(result: Result<(), kube::Error>, name: &str) -> Result<(), Error> {
    match result {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(Error::Kube {
            what: format!("changing grant {name}"),
            source,
        }),
        Ok(()) => Ok(()),
    }
}

fn payload(w: &World, status: &str, fingerprint: &str, user: &str) -> Value {
    let mut p = alert_payload(status, ALERTNAME, fingerprint);
    p["alerts"][0]["labels"]["breakglass_user"] = json!(user);
    p["alerts"][0]["labels"]["chaos"] = json!(w.s.ns);
    p
}
