use std::time::Duration;

use tokio::time::Instant;

use super::{bucket::WINDOW, *};

fn rates() -> Rates {
    Rates::default()
}

/// Leaves `n` calls queued on the budget (as a burst of grants would).
fn drain(b: &Budgets, api: Api, account: &str, n: usize) {
    for _ in 0..n {
        let _ = b.reserve(api, account);
    }
}

#[tokio::test(start_paused = true)]
async fn two_accounts_never_wait_for_each_other() {
    let b = Budgets::new(rates());
    drop(b.wait(Api::IdentityStore, "d-a").await);
    drain(&b, Api::IdentityStore, "d-a", 1000);
    let t = Instant::now();
    drop(b.wait(Api::IdentityStore, "d-b").await);
    assert_eq!(t.elapsed(), Duration::ZERO, "B does not queue behind A");
    drop(b.wait(Api::IdentityStore, "d-a").await);
    assert!(
        t.elapsed() > Duration::from_secs(50),
        "A waits its own queue"
    );
}

#[tokio::test(start_paused = true)]
async fn sts_and_sso_admin_are_budgets_apart_from_the_identity_store() {
    let b = Budgets::new(rates());
    drop(b.wait(Api::IdentityStore, "d-a").await);
    drain(&b, Api::IdentityStore, "d-a", 1000);
    let t = Instant::now();
    drop(b.wait(Api::Sts, CALLER).await);
    drop(b.wait(Api::SsoAdmin, "111111111111").await);
    assert_eq!(t.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_throttling_answer_slows_only_its_budget_and_it_recovers() {
    let b = Budgets::new(rates());
    drop(b.wait(Api::IdentityStore, "d-a").await);
    drop(b.wait(Api::IdentityStore, "d-b").await);
    drop(b.wait(Api::Sts, CALLER).await);
    b.answered(Api::IdentityStore, "d-a", true);
    assert_eq!(b.rate(Api::IdentityStore, "d-a"), Some(9.0));
    assert_eq!(b.rate(Api::IdentityStore, "d-b"), Some(18.0));
    assert_eq!(b.rate(Api::Sts, CALLER), Some(100.0));
    // Answers without throttling, one a second: back to the configured rate.
    for _ in 0..20 {
        tokio::time::advance(WINDOW).await;
        b.answered(Api::IdentityStore, "d-a", false);
    }
    assert_eq!(b.rate(Api::IdentityStore, "d-a"), Some(18.0));
}

#[tokio::test(start_paused = true)]
async fn a_halved_budget_spaces_its_calls_at_the_new_rate() {
    let b = Budgets::new(Rates {
        identity_store: 10.0,
        ..rates()
    });
    drop(b.wait(Api::IdentityStore, "d-a").await);
    b.answered(Api::IdentityStore, "d-a", true);
    let t = Instant::now();
    for _ in 0..5 {
        drop(b.wait(Api::IdentityStore, "d-a").await);
    }
    assert_eq!(
        t.elapsed(),
        Duration::from_secs(1),
        "5 calls at 5/s, no burst"
    );
}

#[tokio::test(start_paused = true)]
async fn the_overall_cap_paces_every_budget_together() {
    let b = Budgets::new(Rates {
        overall: Some(2.0),
        ..rates()
    });
    let t = Instant::now();
    for account in ["d-a", "d-b", "d-c", "d-d"] {
        drop(b.wait(Api::IdentityStore, account).await);
    }
    assert_eq!(
        t.elapsed(),
        Duration::from_millis(1500),
        "4 calls at 2/s overall: one at once, then one every 0.5 s"
    );
}

#[tokio::test(start_paused = true)]
async fn an_account_whose_calls_hang_holds_only_its_share_of_the_connections() {
    let b = Budgets::new(Rates {
        identity_store: 1000.0,
        ..rates()
    });
    let mut held = vec![];
    for _ in 0..MAX_IN_FLIGHT_PER_BUDGET {
        held.push(b.wait(Api::IdentityStore, "d-a").await);
    }
    let more = tokio::time::timeout(Duration::from_secs(60), b.wait(Api::IdentityStore, "d-a"));
    assert!(
        more.await.is_err(),
        "A's next call waits for one of its own"
    );
    let t = Instant::now();
    drop(b.wait(Api::IdentityStore, "d-b").await);
    assert_eq!(t.elapsed(), Duration::ZERO, "B still gets a connection");
}

#[test]
fn the_account_of_a_role_arn() {
    assert_eq!(
        account_of("arn:aws:iam::111111111111:role/breakglass"),
        Some("111111111111")
    );
    assert_eq!(
        account_of("arn:aws-cn:iam::222222222222:role/a/b"),
        Some("222222222222")
    );
    assert_eq!(account_of("not-an-arn"), None);
    assert_eq!(account_of("arn:aws:iam::role/x"), None);
}
