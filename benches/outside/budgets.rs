//! AWS budgets at the controller's default flags: a burst of group grants on one Identity
//! Store, timed against the floor AWS's quotas set (the Identity Store calls it needs ÷ the
//! budget's rate, read from the controller's own gauge). Twice: for users the process has
//! never seen (each needs its id looked up) and again for the same users (ids cached), as
//! the second incident of the day would. Its own controller and namespace, so no other
//! phase's flags or grants mix in.

use std::net::SocketAddr;

use breakglass::api::BreakGlassGrant;
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::json;

use crate::{
    Config, Error,
    common::{self, ControllerProcess, object, policies_raw, unique_name},
    probe::{self, Metrics},
    report::{Budgets, BurstRound, Calls, Latencies},
    series::kept,
    stats::latency,
    steps::*,
    timeline::Sampler,
    watch::Watch,
    world::{World, user},
};

/// Identity Store calls a grant must make whatever the design: the membership's create
/// (granting) and delete (revoking).
const WRITES: [&str; 2] = ["CreateGroupMembership", "DeleteGroupMembership"];

pub async fn run(cfg: &Config, world: &World, at: &Sampler) -> Result<(Budgets, Latencies), Error> {
    let k = cfg.budget_grants;
    let err = |source| Error::Kube {
        phase: "budgets",
        source,
    };
    let ns = common::namespace(&world.client, "bench-budgets").await;
    let users: Vec<String> = (0..k).map(|i| user("u", i)).collect();
    let group = format!("bench-budgets-{ns}");
    world.aws.create_group(&group).await;
    // A policy names at most 256 users: two policies on the one Identity Store and group,
    // which share its budget.
    let mut policies = vec![];
    let mut policy_of = vec![];
    for (j, chunk) in users.chunks(users.len().div_ceil(2).max(1)).enumerate() {
        let name = unique_name(&format!("bench-budgets-{j}"), &ns);
        let spec = json!({
            "eligibleUsers": chunk,
            "grantNamespaces": [ns],
            "duration": {"default": "1h", "max": "8h"},
            "aws": {
                "region": "us-east-1",
                "identityStoreId": world.aws.identity_store_id,
                "roleArn": world.aws.role_arn,
            },
            "access": {"groupMembership": {"groupName": group}},
        });
        policies_raw(&world.client)
            .create(
                &PostParams::default(),
                &object("BreakGlassPolicy", &name, None, spec),
            )
            .await
            .map_err(err)?;
        policy_of.extend(chunk.iter().map(|_| name.clone()));
        policies.push(name);
    }
    let admin = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let admin_arg = admin.to_string();
    // No rate flag: the defaults are what this phase measures.
    let controller = ControllerProcess::start_logged(
        &ns,
        &format!("bench-{ns}"),
        &[("RUST_LOG", "info")],
        &["--admin-addr", &admin_arg, "--sweep-interval", "60s"],
    );
    at.follow(admin, controller.pid());
    let api: Api<BreakGlassGrant> = Api::namespaced(world.client.clone(), &ns);
    let watch = Watch::start(api.clone()).await;
    wait_metrics(admin).await?;

    let round = |prefix: &'static str| {
        let (policy_of, ns, users, watch, api) = (&policy_of, &ns, &users, &watch, &api);
        async move {
            let before = Metrics::scrape(admin).await?;
            let items: Vec<_> = users
                .iter()
                .zip(policy_of.iter())
                .enumerate()
                .map(|(i, (u, p))| (format!("{prefix}-{i}"), p.clone(), u.clone()))
                .collect();
            let sent = create_grants(world, ns, &items, cfg.concurrency, "budgets").await?;
            let (apply, apply_total) = until_active(watch, "budgets apply", &sent).await?;
            let granted = Metrics::scrape(admin).await?;
            let grant_calls = probe::delta(&before.aws_calls(), &granted.aws_calls());
            let store = |a: &Metrics, b: &Metrics| {
                let of = |m: &Metrics| m.aws_calls_by_service().get("identitystore").copied();
                of(b).unwrap_or_default() - of(a).unwrap_or_default()
            };
            let grant_store = store(&before, &granted);
            let names: Vec<String> = sent.iter().map(|(n, _)| n.clone()).collect();
            let resolved = resolve(api, &names, cfg.concurrency).await?;
            let (_, end_total) = until_ended(watch, "budgets resolve", &resolved).await?;
            tokio::time::sleep(SETTLE).await;
            let ended = Metrics::scrape(admin).await?;
            let revoke_calls = probe::delta(&granted.aws_calls(), &ended.aws_calls());
            let rate = ended
                .budget_rates()
                .get("identitystore")
                .copied()
                .unwrap_or_default();
            let stores = (grant_store, store(&granted, &ended));
            let r = BurstRound::new(
                k,
                rate,
                (apply_total, end_total),
                stores,
                grant_calls,
                revoke_calls,
            );
            Ok::<_, Error>((r, apply))
        }
    };
    at.mark("budgets");
    progress(&format!(
        "budgets: {k} grants on one Identity Store at the default flags, users new to the process"
    ));
    let (cold, cold_apply) = round("c").await?;
    at.mark("budgets-warm");
    progress(&format!("budgets: the same {k} users again (ids known)"));
    let (warm, warm_apply) = round("w").await?;
    let throttled = Metrics::scrape(admin).await?.throttled();

    // Ended grants keep their finalizer until deleted: delete them while the controller runs.
    if let Ok(l) = api.list_metadata(&ListParams::default()).await {
        for name in l.items.into_iter().filter_map(|g| g.metadata.name) {
            let _ = api.delete(&name, &Default::default()).await;
        }
    }
    for policy in &policies {
        let _ = policies_raw(&world.client)
            .delete(policy, &Default::default())
            .await;
    }
    drop(controller);
    let raw = Latencies::from([
        ("budgets.cold_apply_to_active".to_owned(), kept(&cold_apply)),
        ("budgets.warm_apply_to_active".to_owned(), kept(&warm_apply)),
    ]);
    let budgets = Budgets {
        grants: k,
        cold_apply_to_active: latency(&cold_apply),
        warm_apply_to_active: latency(&warm_apply),
        cold,
        warm,
        throttled,
        peak_calls_per_s: Calls::new(),
    };
    Ok((budgets, raw))
}

impl BurstRound {
    /// `times`: grant and revoke bursts (first send → last event); `stores`: the Identity
    /// Store calls each made.
    fn new(
        k: usize,
        rate: f64,
        (grant_s, revoke_s): (f64, f64),
        (grant_store, revoke_store): (f64, f64),
        grant: Calls,
        revoke: Calls,
    ) -> Self {
        let writes = |c: &Calls| -> f64 {
            c.iter()
                .filter(|(op, _)| WRITES.contains(&op.as_str()))
                .map(|(_, n)| n)
                .sum::<f64>()
                + 0.0
        };
        let floor = |calls: f64| if rate > 0.0 { calls / rate } else { 0.0 };
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        let ratio = |t: f64, f: f64| if f > 0.0 { round2(t / f) } else { 0.0 };
        Self {
            identity_store_rate: rate,
            grant_s,
            grant_floor_writes_s: round2(floor(k as f64)),
            grant_ratio_to_writes_floor: ratio(grant_s, floor(k as f64)),
            grant_floor_calls_s: round2(floor(grant_store)),
            grant_ratio_to_calls_floor: ratio(grant_s, floor(grant_store)),
            revoke_s,
            revoke_floor_writes_s: round2(floor(k as f64)),
            revoke_ratio_to_writes_floor: ratio(revoke_s, floor(k as f64)),
            identity_store_per_lifecycle: round2((grant_store + revoke_store) / k.max(1) as f64),
            identity_store_writes_per_lifecycle: round2(
                (writes(&grant) + writes(&revoke)) / k.max(1) as f64,
            ),
            grant_per_grant: per(&grant, k),
            revoke_per_grant: per(&revoke, k),
        }
    }
}
