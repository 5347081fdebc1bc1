//! Leader election between real controller processes on the real API server: one leads,
//! the follower stays idle, a SIGKILLed leader is replaced within the lease duration with
//! no duplicate AWS membership, a stopped leader releases its lease at once, and a leader that
//! loses its Lease stops working at once.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use breakglass::api::GrantPhase;
use common::*;
use k8s_openapi::{api::coordination::v1::Lease, jiff::Timestamp};
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::json;

const DURATION: u64 = 6;
const GRACE: u64 = 2;

struct Replica {
    identity: String,
    admin: String,
    process: ControllerProcess,
}

impl Replica {
    fn start(s: &Scenario, lease: &str, identity: &str) -> Self {
        let admin_port = free_port();
        let args = replica_args(
            lease,
            &s.ns,
            identity,
            (DURATION, GRACE),
            &format!("127.0.0.1:{admin_port}"),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process =
            ControllerProcess::start_logged(&s.ns, &format!("{}-{identity}", s.ns), &[], &args);
        Self {
            identity: identity.to_owned(),
            admin: format!("http://127.0.0.1:{admin_port}"),
            process,
        }
    }

    fn metric(&self, series: &str) -> f64 {
        metric(&get_text(&format!("{}/metrics", self.admin)), series)
    }

    async fn wait_metric(&self, series: &str, want: impl Fn(f64) -> bool) -> f64 {
        eventually(SOON, || async {
            let v = try_metric(&get_text(&format!("{}/metrics", self.admin)), series)?;
            want(v).then_some(v)
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "{}: {series} is {} (log {})",
                self.identity,
                self.metric(series),
                self.process.log.display()
            )
        })
    }

    async fn ready(&self) {
        eventually(SOON, || async {
            get_text(&format!("{}/readyz", self.admin))
                .contains("ok")
                .then_some(())
        })
        .await
        .expect("replica ready");
    }
}

/// One test's scenario and Lease, and replicas competing for it.
struct Election {
    s: Scenario,
    leases: Api<Lease>,
    lease: String,
}

impl Election {
    async fn new(test: &str) -> Self {
        let s = Scenario::new(test).await;
        let leases = Api::namespaced(s.client.clone(), &s.ns);
        let lease = unique_name("lease", &s.ns);
        Self { s, leases, lease }
    }

    /// A replica started alone, once it holds the Lease.
    async fn leader(&self, identity: &str) -> Replica {
        let r = Replica::start(&self.s, &self.lease, identity);
        self.wait_holder(identity, SOON).await;
        r
    }

    /// A replica started while another leads, once it is ready.
    async fn follower(&self, identity: &str) -> Replica {
        let r = Replica::start(&self.s, &self.lease, identity);
        r.ready().await;
        r
    }

    async fn holder(&self) -> Option<String> {
        self.leases
            .get_opt(&self.lease)
            .await
            .ok()??
            .spec?
            .holder_identity
    }

    /// How long until `who` holds the Lease (panics after `within`).
    async fn wait_holder(&self, who: &str, within: Duration) -> Duration {
        let start = Instant::now();
        eventually(within, || async {
            (self.holder().await.as_deref() == Some(who)).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{who} did not take lease {} within {within:?}", self.lease));
        start.elapsed()
    }
}

#[tokio::test]
async fn a_follower_is_idle_and_takes_over_a_killed_leader_within_the_lease() {
    let e = Election::new("leader").await;
    let s = &e.s;
    let a = e.leader("replica-a").await;
    let b = e.follower("replica-b").await;
    a.wait_metric("breakglass_leader", |v| v == 1.0).await;
    assert_eq!(b.metric("breakglass_leader"), 0.0);

    s.create_grant("first", |_| {}).await;
    s.wait_phase("first", GrantPhase::Active, SOON).await;
    assert_eq!(s.members().await, vec![s.alice.clone()]);
    assert!(a.metric("breakglass_reconciles_total") > 0.0);
    assert_eq!(
        b.metric("breakglass_reconciles_total"),
        0.0,
        "the follower must not reconcile"
    );

    a.process.kill();
    let took = e
        .wait_holder("replica-b", Duration::from_secs(DURATION + 5))
        .await;
    println!("takeover after SIGKILL: {took:?} (lease duration {DURATION}s)");
    // The lease runs out at most DURATION after the last renewal; the follower then waits
    // a random pause of up to 1 s before locking it (kube-lease-manager).
    assert!(
        took <= Duration::from_secs(DURATION + 2),
        "takeover took {took:?}"
    );
    b.wait_metric("breakglass_leader", |v| v == 1.0).await;
    b.wait_metric("breakglass_reconciles_total", |v| v > 0.0)
        .await;

    // The new leader re-reconciles the Active grant and a second, overlapping one: the
    // user is still a member exactly once.
    s.create_grant("second", |_| {}).await;
    s.wait_phase("second", GrantPhase::Active, SOON).await;
    assert_eq!(s.members().await, vec![s.alice.clone()]);
    s.resolve("first").await;
    s.wait_phase("first", GrantPhase::Ended, SOON).await;
    assert_eq!(s.members().await, vec![s.alice.clone()]);
    s.resolve("second").await;
    s.wait_phase("second", GrantPhase::Ended, SOON).await;
    assert!(s.members().await.is_empty());
}

#[tokio::test]
async fn a_stopped_leader_releases_its_lease_for_the_follower() {
    let e = Election::new("handover").await;
    let s = &e.s;
    let a = e.leader("replica-a").await;
    let _b = e.follower("replica-b").await;

    // SIGTERM, as on a rolling update: the leader finishes, releases the lease at once
    // (rather than leaving it to expire), and the follower takes it within the duration.
    let status = Command::new("kill")
        .args(["-TERM", &a.process.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    // Released, not left to expire: within the grace, far below the lease duration, the
    // stopped leader no longer holds it (free, or the follower already took it: the free
    // moment can be shorter than one poll).
    eventually(Duration::from_secs(GRACE), || async {
        (e.holder().await.as_deref() != Some("replica-a")).then_some(())
    })
    .await
    .expect("the stopped leader released its lease");
    eventually(SOON, || async {
        a.process
            .log_text()
            .contains("leader lease released")
            .then_some(())
    })
    .await
    .expect("the stopped leader logged its release");
    let took = e
        .wait_holder("replica-b", Duration::from_secs(DURATION + 2))
        .await;
    println!("handover after SIGTERM: {took:?}");
    s.create_grant("after", |_| {}).await;
    s.wait_phase("after", GrantPhase::Active, SOON).await;
}

#[tokio::test]
async fn a_leader_that_loses_its_lease_stops_at_once() {
    let e = Election::new("lost-lease").await;
    let s = &e.s;
    let a = e.leader("replica-a").await;
    a.wait_metric("breakglass_leader", |v| v == 1.0).await;

    // Someone else takes the lease (as after a network partition healed on their side).
    e.leases
        .patch(
            &e.lease,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "holderIdentity": "intruder",
                "renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(Timestamp::now()),
                "leaseDurationSeconds": DURATION,
            }})),
        )
        .await
        .expect("steal the lease");
    a.wait_metric("breakglass_leader", |v| v == 0.0).await;
    assert!(a.process.log_text().contains("lost the leader lease"));

    // While the intruder holds it, nothing is reconciled.
    s.create_grant("waits", |_| {}).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let g = s.grants().get("waits").await.expect("grant");
    assert!(
        g.status.is_none() && g.metadata.finalizers.is_none(),
        "a replica without the lease wrote to the grant: {g:?}"
    );
    assert!(s.members().await.is_empty());

    // The intruder never renews: the replica takes the lease back and does the work.
    e.wait_holder("replica-a", Duration::from_secs(DURATION + 5))
        .await;
    s.wait_phase("waits", GrantPhase::Active, SOON).await;
    assert_eq!(s.members().await, vec![s.alice.clone()]);
}
