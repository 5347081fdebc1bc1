//! Client-side budgets as AWS counts its quotas: one token bucket per (account, API) —
//! Identity Store per store, SSO Admin per account, STS per caller — created on first use,
//! so several policies on one account share its budget and different accounts never wait
//! for each other. A throttling answer halves its bucket's rate; calm windows restore it
//! (`bucket`). An optional overall cap (`--aws-rate`) paces every call together.

mod bucket;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use self::bucket::Bucket;
use crate::{Actor, CallObserver};

/// Calls in flight at most, across all budgets: each holds an HTTP connection and its
/// buffers, so a burst of a thousand grants must not open a thousand connections.
pub const MAX_IN_FLIGHT: usize = 32;

/// Calls in flight at most per budget: an account whose calls hang (up to their deadline)
/// holds at most this many of `MAX_IN_FLIGHT`, so other accounts keep most of them. At
/// about 20 calls/s and ~100 ms per answer a budget needs two or three.
pub const MAX_IN_FLIGHT_PER_BUDGET: usize = 8;

/// The AWS APIs whose quotas are counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    IdentityStore,
    SsoAdmin,
    Sts,
}

impl Api {
    /// As IAM names the service (the `service` label of the call metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdentityStore => "identitystore",
            Self::SsoAdmin => "sso",
            Self::Sts => "sts",
        }
    }
}

/// The account whose STS quota AssumeRole spends: the caller's (the operator's own
/// credentials), whatever role it assumes.
pub const CALLER: &str = "caller";

/// The account of an IAM ARN (`arn:partition:iam::ACCOUNT:role/…`).
pub fn account_of(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// The budget an actor's calls of `api` spend: the Identity Store's by its id; SSO Admin's
/// by the account of the role acted as (where the instance lives), else the store id.
pub(crate) fn account(api: Api, actor: Actor<'_>) -> String {
    let store = &actor.target.identity_store_id;
    match api {
        Api::IdentityStore => store.clone(),
        Api::SsoAdmin => {
            let (role_arn, _) = actor.target.session(actor.role);
            account_of(role_arn).unwrap_or(store).to_owned()
        }
        Api::Sts => CALLER.to_owned(),
    }
}

/// Calls per second per budget, and the floor throttling can bring a budget to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub identity_store: f64,
    pub sso_admin: f64,
    pub sts: f64,
    /// Every call together, when set.
    pub overall: Option<f64>,
    pub floor: f64,
}

impl Default for Rates {
    /// Just under AWS's default quotas (docs/operations.md names the pages): Identity Store
    /// and SSO Admin 20 calls/s per account, STS 600 per account and Region.
    fn default() -> Self {
        Self {
            identity_store: 18.0,
            sso_admin: 18.0,
            sts: 100.0,
            overall: None,
            floor: 1.0,
        }
    }
}

impl Rates {
    pub fn of(&self, api: Api) -> f64 {
        match api {
            Api::IdentityStore => self.identity_store,
            Api::SsoAdmin => self.sso_admin,
            Api::Sts => self.sts,
        }
    }
}

struct Budget {
    bucket: Bucket,
    in_flight: Arc<Semaphore>,
}

/// Every budget, made on first use. Budgets are a few dozen bytes each and there is one
/// per account and API the policies name, so they are never dropped.
pub struct Budgets {
    rates: Rates,
    budgets: Mutex<HashMap<(Api, String), Budget>>,
    overall: Option<Mutex<Bucket>>,
    in_flight: Semaphore,
    observer: Mutex<Option<Arc<dyn CallObserver>>>,
}

/// A call's turn: keep it until the call has its answer.
#[must_use = "the turn must be held for the duration of the call"]
pub struct Turn<'a> {
    _budget: Option<OwnedSemaphorePermit>,
    _all: Option<SemaphorePermit<'a>>,
}

impl Budgets {
    pub fn new(rates: Rates) -> Self {
        let now = tokio::time::Instant::now().into_std();
        Self {
            rates,
            budgets: Mutex::new(HashMap::new()),
            overall: rates.overall.map(|r| Mutex::new(Bucket::new(r, r, now))),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            observer: Mutex::new(None),
        }
    }

    pub fn rates(&self) -> Rates {
        self.rates
    }

    /// Told of each budget's rate when it is made and whenever it changes.
    pub fn observe(&self, observer: Arc<dyn CallObserver>) {
        *lock(&self.observer) = Some(observer);
    }

    fn observer(&self) -> Option<Arc<dyn CallObserver>> {
        lock(&self.observer).clone()
    }

    /// The budget's rate now, if it was ever used.
    pub fn rate(&self, api: Api, account: &str) -> Option<f64> {
        lock(&self.budgets)
            .get(&(api, account.to_owned()))
            .map(|b| b.bucket.rate())
    }

    /// Waits for a slot of the budget, then for the call's place at its rate (and the
    /// overall cap's), then for a slot among all calls.
    pub async fn wait(&self, api: Api, account: &str) -> Turn<'_> {
        let (slots, made) = {
            let mut budgets = lock(&self.budgets);
            let key = (api, account.to_owned());
            let made = !budgets.contains_key(&key);
            let b = budgets.entry(key).or_insert_with(|| Budget {
                bucket: Bucket::new(self.rates.of(api), self.rates.floor, now()),
                in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_BUDGET)),
            });
            (b.in_flight.clone(), made.then(|| b.bucket.rate()))
        };
        if let (Some(rate), Some(o)) = (made, self.observer()) {
            o.budget(api.as_str(), account, rate);
        }
        // The semaphores are never closed: `None` cannot happen, and would only lift a cap.
        let budget = slots.acquire_owned().await.ok();
        let delay = self.reserve(api, account);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Turn {
            _budget: budget,
            _all: self.in_flight.acquire().await.ok(),
        }
    }

    fn reserve(&self, api: Api, account: &str) -> Duration {
        let now = now();
        let own = lock(&self.budgets)
            .get_mut(&(api, account.to_owned()))
            .map_or(Duration::ZERO, |b| b.bucket.reserve(now));
        let all = self
            .overall
            .as_ref()
            .map_or(Duration::ZERO, |o| lock(o).reserve(now));
        own.max(all)
    }

    /// What AWS answered a call of the budget: throttled (halve its rate) or not (its
    /// rate may recover).
    pub fn answered(&self, api: Api, account: &str, throttled: bool) {
        let now = now();
        let changed = {
            let mut budgets = lock(&self.budgets);
            let Some(b) = budgets.get_mut(&(api, account.to_owned())) else {
                return;
            };
            let changed = if throttled {
                b.bucket.throttled(now)
            } else {
                b.bucket.answered(now)
            };
            changed.then(|| b.bucket.rate())
        };
        if let (Some(rate), Some(o)) = (changed, self.observer()) {
            o.budget(api.as_str(), account, rate);
        }
    }
}

/// Tokio's clock, so paused-time tests drive the buckets too.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while a budget is held: a poisoned lock holds consistent state.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
