//! The membership's add against the in-memory AWS and the mocked API server (the ledger's
//! writes): overlapping grants of one user share one membership, whichever of them gets
//! the user's lock first.

use std::{sync::Arc, time::Duration};

use breakglass_aws::memory::{Memory, Op};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::{
    effect::{AddMember, After, Effect, Plan},
    execute::execute,
    pass::Pass,
};
use crate::{
    api::{BreakGlassGrantStatus, Time},
    aws::ActAs,
    controller::{context::Context, ledger},
    targets::{self, GroupTarget},
    telemetry::Metrics,
    testkit::{ApiServer, client, finish, grant, spawn},
};

const LEDGER: &str = "/apis/breakglass.dev/v1alpha1/breakglassledgerentries";
const STORE: &str = "d-1";

fn target(session_name: &str) -> ActAs {
    ActAs {
        role_arn: "arn:aws:iam::111111111111:role/bg".into(),
        read_role_arn: None,
        external_id: None,
        region: None,
        identity_store_id: STORE.into(),
        session_name: session_name.into(),
    }
}

/// One grant's first pass adding `user_id` to `group_id`, as `decide::membership` plans it.
fn first_pass(
    ctx: &Arc<Context>,
    name: &'static str,
    user_id: &str,
    group_id: &str,
) -> tokio::task::JoinHandle<BreakGlassGrantStatus> {
    let (ctx, user_id, group_id) = (ctx.clone(), user_id.to_owned(), group_id.to_owned());
    spawn(async move {
        // What `decide::membership` records before the add.
        let planned = json!({"status": {"access": {"groupMembership": {
            "identityStoreId": STORE, "groupId": group_id}}}});
        let g = grant("incidents", name, 1, planned);
        let pass = Pass::new(&g, None, &ctx, Time(Timestamp::now()));
        let target = target(&format!("breakglass@incidents.{name}"));
        let member_of = targets::Target::Group(GroupTarget {
            identity_store_id: STORE.into(),
            group_id: group_id.clone(),
        });
        let entry =
            ledger::Entry::new(member_of, &user_id, &g.spec.user, &pass.key, &g.spec.policy);
        let add = AddMember {
            entry,
            target,
            group_id,
            user_id,
            group_name: None,
        };
        let plan = Plan {
            effects: vec![Effect::AddMember(Box::new(add))],
            after: After::In(Duration::from_secs(1)),
        };
        let mut journal = pass.journal();
        execute(&pass, &mut journal, plan)
            .await
            .expect("the member is added");
        journal.status().clone()
    })
}

/// Answers the ledger's writes of a grant whose member is recorded already (409, then the
/// touch) until no request comes: the pass finished, or waits for the user's lock.
async fn answer_as_recorded_until_quiet(
    api: &mut ApiServer,
    user_id: &str,
    group_id: &str,
) -> usize {
    let mut answered = 0;
    // Time is paused: the timeout fires only once every task is blocked.
    while let Ok(call) = tokio::time::timeout(Duration::from_secs(1), api.next()).await {
        match call.method.as_str() {
            "POST" => call.fail(409, "AlreadyExists"),
            // B's look-up of the ledger: A recorded the member (so it is not standing access).
            "GET" | "PATCH" => {
                let name = call.path.rsplit('/').next().unwrap_or_default().to_owned();
                call.ok(recorded(&name, user_id, group_id));
            }
            _ => panic!("unexpected request: {call}"),
        }
        answered += 1;
    }
    answered
}

/// Alice's entry on the group as the operator records it (under the name it computes).
fn recorded(name: &str, user_id: &str, group_id: &str) -> serde_json::Value {
    json!({"apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassLedgerEntry",
        "metadata": {"name": name, "resourceVersion": "2"},
        "spec": {"installation": crate::testkit::installation().as_str(),
            "target": {"group": {"identityStoreId": STORE, "groupId": group_id}},
            "userId": user_id, "recordedAt": Time(Timestamp::now())}})
}

fn membership_id(status: &BreakGlassGrantStatus) -> Option<&str> {
    status
        .access
        .as_ref()?
        .group_membership
        .as_ref()?
        .membership_id
        .as_deref()
}

/// Grant A looks, finds no member, records it in the ledger and adds it; grant B, started
/// while A's ledger write is in flight, must not look meanwhile: the look, the ledger and
/// the add happen under the user's lock, so B looks only after A added, finds A's member
/// recorded in the ledger (the operator's, not standing access) and shares it. Without the
/// lock B creates a second membership (moto keeps the duplicate; AWS answers Conflict).
#[tokio::test(start_paused = true)]
async fn overlapping_first_passes_create_the_membership_once() {
    let (kube, mut api) = client();
    let aws = Arc::new(Memory::new());
    let user_id = aws.user(STORE, "alice@example.com");
    let group_id = aws.group(STORE, "admins");
    let ledger = ledger::Ledger::new(kube.clone(), crate::testkit::installation());
    let ctx = Arc::new(Context::new(
        kube,
        aws.clone(),
        Arc::new(Metrics::new()),
        ledger,
    ));

    let a = first_pass(&ctx, "inc-a", &user_id, &group_id);
    // A's ledger create, answered only once B has gone as far as it can.
    let a_records = api.expect("POST", LEDGER).await;
    let b = first_pass(&ctx, "inc-b", &user_id, &group_id);
    answer_as_recorded_until_quiet(&mut api, &user_id, &group_id).await;
    let body = a_records.body.clone();
    a_records.created(&body);
    // B's ledger writes, when it waited for A's lock.
    answer_as_recorded_until_quiet(&mut api, &user_id, &group_id).await;
    let (a, b) = (finish(a).await, finish(b).await);
    api.idle();

    assert_eq!(
        aws.count(Op::CreateGroupMembership),
        1,
        "one membership created, the other grant found it: {:#?}",
        aws.calls()
    );
    assert_eq!(aws.group_members(STORE, &group_id).len(), 1);
    assert!(membership_id(&a).is_some());
    assert_eq!(
        membership_id(&a),
        membership_id(&b),
        "one membership, shared"
    );
    let standing = |s: &BreakGlassGrantStatus| {
        s.access
            .as_ref()
            .and_then(|a| a.group_membership.as_ref())
            .is_some_and(|m| m.standing)
    };
    assert!(
        !standing(&a) && !standing(&b),
        "the operator's member is not standing access"
    );
}
