//! Account assignments, measured from outside: grants of a permission set on two accounts,
//! given and taken back by their own controller whose AWS goes through the fault proxy
//! (mitmproxy in front of moto) adding `DELAY_MS` to every SSO Admin call, since moto
//! answers at once what AWS takes time to do.

use breakglass::api::BreakGlassGrant;
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::json;

use crate::{
    Config, Error,
    common::{self, ControllerProcess, faults::FaultProxy, object, policies_raw, unique_name},
    controller::aws_rate,
    probe::{self, Metrics},
    report::{Accounts, Latencies},
    series::kept,
    stats::latency,
    steps::*,
    timeline::Sampler,
    watch::Watch,
    world::{World, user},
};

const ACCOUNTS: [&str; 2] = ["210000000001", "210000000002"];
pub const DELAY_MS: u64 = 200;

/// SSO Admin operations the controller makes: each answered `DELAY_MS` late.
const SLOW: [&str; 12] = [
    "ListInstances",
    "ListPermissionSets",
    "DescribePermissionSet",
    "CreateAccountAssignment",
    "DescribeAccountAssignmentCreationStatus",
    "DeleteAccountAssignment",
    "DescribeAccountAssignmentDeletionStatus",
    "ListAccountAssignments",
    // The session guard's.
    "GetInlinePolicyForPermissionSet",
    "PutInlinePolicyToPermissionSet",
    "ProvisionPermissionSet",
    "DescribePermissionSetProvisioningStatus",
];

/// The figures, and every grant's latencies by the report's key for the phase (for plots).
pub async fn run(
    cfg: &Config,
    world: &World,
    at: &Sampler,
) -> Result<(Accounts, Latencies), Error> {
    let m = cfg.account_grants;
    let ns = common::namespace(&world.client, "bench-accounts").await;
    let permission_set = world.aws.create_permission_set("BenchReadOnly").await;
    let users: Vec<String> = (0..m).map(|i| user("u", i)).collect();
    let policy = unique_name("bench-accounts", &ns);
    let spec = json!({
        "eligibleUsers": users,
        "duration": {"default": "1h", "max": "8h"},
        "aws": {
            "region": "us-east-1",
            "identityStoreId": world.aws.identity_store_id,
            "roleArn": world.aws.role_arn,
        },
        // By name: moto's permission-set ARNs (`…:instance/ssoins-…/ps-…`) are not AWS's
        // (`…:permissionSet/ssoins-…/ps-…`), which the CRD's pattern requires.
        "access": {"accountAssignment": {
            "permissionSetName": "BenchReadOnly",
            "accountIds": ACCOUNTS,
        }},
    });
    policies_raw(&world.client)
        .create(
            &PostParams::default(),
            &object("BreakGlassPolicy", &policy, None, spec),
        )
        .await
        .map_err(|source| Error::Kube {
            phase: "accounts",
            source,
        })?;
    let rules: Vec<_> = SLOW
        .iter()
        .map(|op| json!({"name": "slow", "operation": op, "answer": "pass", "delay_ms": DELAY_MS}))
        .collect();
    let proxy = FaultProxy::start(&format!("bench-{ns}"), json!(rules)).await;
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let (admin_arg, rate) = (admin.to_string(), aws_rate());
    let controller = ControllerProcess::start_logged(
        &ns,
        &format!("bench-{ns}"),
        &[("AWS_ENDPOINT_URL", &proxy.url), ("RUST_LOG", "info")],
        &[
            "--admin-addr",
            &admin_arg,
            "--aws-rate",
            &rate,
            "--aws-rate-identitystore",
            &rate,
            "--aws-rate-ssoadmin",
            &rate,
            "--aws-rate-sts",
            &rate,
            "--sweep-interval",
            "60s",
        ],
    );
    // The SSO Admin calls are this controller's: the timeline follows it.
    at.follow(admin, controller.pid());
    let api: Api<BreakGlassGrant> = Api::namespaced(world.client.clone(), &ns);
    let watch = Watch::start(api.clone()).await;
    let before = wait_metrics(admin).await?.aws_calls();

    let items: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (format!("acct-{i}"), policy.clone(), u.clone()))
        .collect();
    let sent = create_grants(world, &ns, &items, cfg.concurrency, "accounts").await?;
    let (apply, apply_total) = until_active(&watch, "accounts apply", &sent).await?;
    let names: Vec<String> = sent.iter().map(|(n, _)| n.clone()).collect();
    let resolved = resolve(&api, &names, cfg.concurrency).await?;
    let (end, end_total) = until_ended(&watch, "accounts resolve", &resolved).await?;
    let (cut, cut_total) = until_revoked(&watch, "accounts sessions cut", &resolved).await?;
    tokio::time::sleep(SETTLE).await;
    let calls = probe::delta(&before, &Metrics::scrape(admin).await?.aws_calls());
    let mut left = 0;
    for account in ACCOUNTS {
        left += world
            .aws
            .assigned_users(account, &permission_set)
            .await
            .len();
    }
    // Ended grants keep their finalizer until deleted: delete them while the controller runs.
    for name in api
        .list_metadata(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|g| g.metadata.name)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
    {
        let _ = api.delete(&name, &Default::default()).await;
    }
    let _ = policies_raw(&world.client)
        .delete(&policy, &Default::default())
        .await;
    let raw = Latencies::from([
        ("accounts.apply_to_active".to_owned(), kept(&apply)),
        ("accounts.resolve_to_ended".to_owned(), kept(&end)),
        ("accounts.resolve_to_sessions_cut".to_owned(), kept(&cut)),
    ]);
    let accounts = Accounts {
        grants: m,
        accounts_per_grant: ACCOUNTS.len(),
        proxy_delay_ms: DELAY_MS,
        apply_to_active: crate::report::Phase {
            latency: latency(&apply),
            total_s: apply_total,
        },
        resolve_to_ended: crate::report::Phase {
            latency: latency(&end),
            total_s: end_total,
        },
        resolve_to_sessions_cut: crate::report::Phase {
            latency: latency(&cut),
            total_s: cut_total,
        },
        calls_per_grant: per(&calls, m),
        lifecycle_per_grant: (probe::total(&calls) / m.max(1) as f64 * 100.0).round() / 100.0,
        assignments_left: left,
    };
    Ok((accounts, raw))
}
