//! What account-assignment reconciles share in memory, only to save work or respect AWS's
//! limits: discovered instance and permission-set ARNs (stable, looked up once), the
//! creations AWS is still working on per instance (at most `MAX_OUTSTANDING`), and per
//! grant how often it has polled (for the poll backoff). Losing it (a restart) costs a few
//! look-ups; the record on the grant is what counts.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
    time::Duration,
};

use crate::{
    api::{AccountAssignmentAccess, GrantKey},
    aws::{self, ActAs, IdentityCenter, Role},
};

/// AWS allows about 10 account-assignment creations in progress per instance.
pub const MAX_OUTSTANDING: usize = 10;

/// Polls of one grant's requests before the wait is given up as failed (about 5 minutes).
pub const MAX_POLLS: u32 = 36;

#[derive(Default)]
pub struct SsoState {
    /// (role ARN, region) → the one instance ListInstances found.
    instances: Mutex<HashMap<(String, Option<String>), String>>,
    /// (instance ARN, permission set name) → its ARN.
    permission_sets: Mutex<HashMap<(String, String), String>>,
    /// instance ARN → request ids of creations in progress.
    outstanding: Mutex<HashMap<String, BTreeSet<String>>>,
    /// grant key → polls so far.
    polls: Mutex<HashMap<GrantKey, u32>>,
    /// One look-up at a time: a burst of grants on one policy asks AWS once, not per grant.
    resolving: tokio::sync::Mutex<()>,
}

impl SsoState {
    /// The instance (the policy's, or the only one ListInstances shows) and the permission set
    /// (the policy's ARN, or its name looked up once).
    pub async fn resolve(
        &self,
        aws: &dyn IdentityCenter,
        target: &ActAs,
        access: &AccountAssignmentAccess,
    ) -> Result<(String, String), aws::Error> {
        if let Some(found) = self.cached(target, access) {
            return Ok(found);
        }
        let _one = self.resolving.lock().await;
        if let Some(found) = self.cached(target, access) {
            return Ok(found);
        }
        let sso = aws.sso(target, Role::Read).await?;
        let instance_arn = match &access.instance_arn {
            Some(arn) => arn.clone(),
            None => match self.instance(&target.role_arn, target.region.as_deref()) {
                Some(arn) => arn,
                None => {
                    let found = sso.instances().await?;
                    let [(arn, _)] = found.as_slice() else {
                        return Err(aws::Error::InstanceNotFound(format!(
                            "the role's account has {} IAM Identity Center instances; set access.accountAssignment.instanceArn",
                            found.len()
                        )));
                    };
                    self.remember_instance(&target.role_arn, target.region.as_deref(), arn);
                    arn.clone()
                }
            },
        };
        let permission_set_arn = match (&access.permission_set_arn, &access.permission_set_name) {
            (Some(arn), _) => arn.clone(),
            (None, Some(name)) => match self.permission_set(&instance_arn, name) {
                Some(arn) => arn,
                None => {
                    let arn = sso.permission_set_arn(&instance_arn, name).await?;
                    self.remember_permission_set(&instance_arn, name, &arn);
                    arn
                }
            },
            (None, None) => {
                return Err(aws::Error::InstanceNotFound(
                    "the policy names no permission set".into(),
                ));
            }
        };
        Ok((instance_arn, permission_set_arn))
    }

    fn cached(&self, target: &ActAs, access: &AccountAssignmentAccess) -> Option<(String, String)> {
        let instance = match &access.instance_arn {
            Some(arn) => arn.clone(),
            None => self.instance(&target.role_arn, target.region.as_deref())?,
        };
        let permission_set = match (&access.permission_set_arn, &access.permission_set_name) {
            (Some(arn), _) => arn.clone(),
            (None, Some(name)) => self.permission_set(&instance, name)?,
            (None, None) => return None,
        };
        Some((instance, permission_set))
    }

    pub fn instance(&self, role_arn: &str, region: Option<&str>) -> Option<String> {
        let map = self.instances.lock().ok()?;
        map.get(&(role_arn.to_owned(), region.map(str::to_owned)))
            .cloned()
    }

    pub fn remember_instance(&self, role_arn: &str, region: Option<&str>, arn: &str) {
        if let Ok(mut map) = self.instances.lock() {
            map.insert(
                (role_arn.to_owned(), region.map(str::to_owned)),
                arn.to_owned(),
            );
        }
    }

    pub fn permission_set(&self, instance_arn: &str, name: &str) -> Option<String> {
        let map = self.permission_sets.lock().ok()?;
        map.get(&(instance_arn.to_owned(), name.to_owned()))
            .cloned()
    }

    pub fn remember_permission_set(&self, instance_arn: &str, name: &str, arn: &str) {
        if let Ok(mut map) = self.permission_sets.lock() {
            map.insert((instance_arn.to_owned(), name.to_owned()), arn.to_owned());
        }
    }

    /// Whether another creation may start on `instance_arn`.
    pub fn may_create(&self, instance_arn: &str) -> bool {
        self.outstanding
            .lock()
            .map(|m| m.get(instance_arn).map_or(0, BTreeSet::len) < MAX_OUTSTANDING)
            .unwrap_or(true)
    }

    pub fn started(&self, instance_arn: &str, request_id: &str) {
        if let Ok(mut m) = self.outstanding.lock() {
            m.entry(instance_arn.to_owned())
                .or_default()
                .insert(request_id.to_owned());
        }
    }

    pub fn finished(&self, instance_arn: &str, request_id: &str) {
        if let Ok(mut m) = self.outstanding.lock()
            && let Some(set) = m.get_mut(instance_arn)
        {
            set.remove(request_id);
        }
    }

    /// Counts a poll of `grant` and says how long to wait before the next one:
    /// 0.5 s, 1 s, 2 s … at most 10 s. `None` once `MAX_POLLS` is reached.
    pub fn next_poll(&self, grant: &GrantKey) -> Option<Duration> {
        let mut polls = self.polls.lock().ok()?;
        let n = polls.entry(grant.clone()).or_default();
        *n += 1;
        if *n > MAX_POLLS {
            polls.remove(grant);
            return None;
        }
        let delay = Duration::from_millis(500u64 << (*n - 1).min(5));
        Some(delay.min(Duration::from_secs(10)))
    }

    pub fn polled_out(&self, grant: &GrantKey) {
        if let Ok(mut polls) = self.polls.lock() {
            polls.remove(grant);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_back_off_to_ten_seconds_then_give_up() {
        let s = SsoState::default();
        let g = GrantKey::new("team", "g");
        let delays: Vec<u128> = (0..7)
            .map(|_| s.next_poll(&g).map_or(0, |d| d.as_millis()))
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
        for _ in 7..MAX_POLLS {
            assert!(s.next_poll(&g).is_some());
        }
        assert_eq!(s.next_poll(&g), None, "the deadline");
        assert!(s.next_poll(&g).is_some(), "and a new wait starts afresh");
    }

    #[test]
    fn at_most_ten_creations_wait_on_one_instance() {
        let s = SsoState::default();
        for i in 0..MAX_OUTSTANDING {
            assert!(s.may_create("i"));
            s.started("i", &format!("r{i}"));
        }
        assert!(!s.may_create("i"));
        assert!(s.may_create("other"));
        s.finished("i", "r3");
        assert!(s.may_create("i"));
    }
}
