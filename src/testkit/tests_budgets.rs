//! AWS budgets and the user id cache through the controller's reconcile, in process: a
//! throttled, backlogged Identity Store on one account does not hold up grants on
//! another's; a user's id is looked up once, and again only after AWS says it is gone.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use super::pipeline::{ALICE, GROUP, Pipeline, STORE};
use crate::{
    api::GrantPhase,
    aws::{Api, Budgets, Rates, memory::Fault, memory::Op},
};

const OTHER_STORE: &str = "d-2";
const OTHER_ROLE: &str = "arn:aws:iam::333333333333:role/breakglass";
const BOB: &str = "bob@example.com";
const SECOND_GROUP: &str = "breakglass-readers";

fn group_policy(store: &str, role: &str, user: &str, group: &str) -> Value {
    json!({
        "eligibleUsers": [user],
        "duration": {"default": "1h", "max": "8h"},
        "aws": {"region": "us-east-1", "identityStoreId": store, "roleArn": role},
        "access": {"groupMembership": {"groupName": group}},
    })
}

#[tokio::test]
async fn a_throttled_identity_store_on_one_account_does_not_delay_grants_on_another() {
    let p = Pipeline::new();
    let budgets = Arc::new(Budgets::new(Rates::default()));
    p.aws.pace(budgets.clone());
    p.policy("a", Pipeline::group_policy());
    let bob = p.aws.user(OTHER_STORE, BOB);
    let b_group = p.aws.group(OTHER_STORE, GROUP);
    p.policy("b", group_policy(OTHER_STORE, OTHER_ROLE, BOB, GROUP));

    // A's Identity Store throttles: its budget halves.
    p.aws.inject(Op::GetUserId, Fault::Throttle, 1);
    p.grant("inc-a", "a", json!({}));
    assert!(p.pass("inc-a").await.is_err(), "throttled");
    assert_eq!(budgets.rate(Api::IdentityStore, STORE), Some(9.0));
    // And a burst of other calls queues on it: minutes of backlog at its rate.
    let backlog: Vec<_> = (0..2000)
        .map(|_| {
            let b = budgets.clone();
            tokio::spawn(async move { drop(b.wait(Api::IdentityStore, STORE).await) })
        })
        .collect();
    tokio::task::yield_now().await;

    p.grant("inc-b", "b", json!({"user": BOB}));
    tokio::select! {
        a = p.pass("inc-a") => panic!("A's call jumped its budget's queue: {a:?}"),
        b = tokio::time::timeout(Duration::from_secs(30), p.until("inc-b", Some(GrantPhase::Active), 5)) => {
            b.expect("B's grant waited for A's budget");
        }
    }
    assert!(p.aws.group_members(OTHER_STORE, &b_group).contains(&bob));
    assert_eq!(budgets.rate(Api::IdentityStore, OTHER_STORE), Some(18.0));
    assert_eq!(budgets.rate(Api::IdentityStore, STORE), Some(9.0));
    backlog.iter().for_each(|t| t.abort());
}

#[tokio::test]
async fn a_users_id_is_looked_up_once_for_all_their_grants() {
    let p = Pipeline::new();
    p.aws.group(STORE, SECOND_GROUP);
    p.policy("admins", Pipeline::group_policy());
    p.policy(
        "readers",
        group_policy(STORE, super::pipeline::ROLE, ALICE, SECOND_GROUP),
    );
    p.grant("inc-1", "admins", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 5).await;
    p.grant("inc-2", "readers", json!({}));
    p.until("inc-2", Some(GrantPhase::Active), 5).await;
    assert_eq!(
        p.aws.count(Op::GetUserId),
        1,
        "the second grant asked no one"
    );
}

#[tokio::test]
async fn a_user_deleted_and_made_again_is_looked_up_again() {
    let p = Pipeline::new();
    let readers = p.aws.group(STORE, SECOND_GROUP);
    p.policy("admins", Pipeline::group_policy());
    p.policy(
        "readers",
        group_policy(STORE, super::pipeline::ROLE, ALICE, SECOND_GROUP),
    );
    p.grant("inc-1", "admins", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 5).await;
    // The admin deletes Alice and makes her again: a new id under the same name.
    p.aws.delete_user(STORE, ALICE);
    let again = p.aws.user(STORE, ALICE);
    assert_ne!(again, p.alice);
    p.grant("inc-2", "readers", json!({}));
    p.until("inc-2", Some(GrantPhase::Active), 5).await;
    assert_eq!(
        p.aws.count(Op::GetUserId),
        2,
        "looked up again once refused"
    );
    assert!(p.aws.group_members(STORE, &readers).contains(&again));
}
