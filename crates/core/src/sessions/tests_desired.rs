use jiff::SignedDuration;

use super::tests_statement::ts;
use super::*;

const HOURS_12: SignedDuration = SignedDuration::from_hours(12);

fn user(id: &str, active_until: Option<&str>, cut_at: Option<&str>) -> UserGuard {
    UserGuard {
        user_id: id.into(),
        active_until: active_until.map(ts),
        cut_at: cut_at.map(ts),
    }
}

fn exp(id: &str, at: &str) -> GuardStatement {
    GuardStatement::new(id, Denial::After(ts(at)))
}

fn cut(id: &str, at: &str) -> GuardStatement {
    GuardStatement::new(id, Denial::IssuedBefore(ts(at)))
}

fn at(current: &[GuardStatement], users: &[UserGuard], now: &str) -> Vec<GuardStatement> {
    desired(current, users, ts(now), HOURS_12)
}

#[test]
fn an_active_user_gets_one_expiry_at_the_latest_end() {
    let users = [user("u1", Some("2026-12-02T19:00:00Z"), None)];
    let want = [exp("u1", "2026-12-02T19:00:00Z")];
    assert_eq!(at(&[], &users, "2026-12-02T10:00:00Z"), want);
    // A written, earlier expiry is moved; so is a later one (a grant was shortened).
    for old in ["2026-12-02T18:00:00Z", "2026-12-02T21:00:00Z"] {
        let current = [exp("u1", old)];
        assert_eq!(at(&current, &users, "2026-12-02T10:00:00Z"), want);
    }
    // Listed twice, the latest wins.
    let twice = [
        users[0].clone(),
        user("u1", Some("2026-12-02T20:00:00Z"), None),
    ];
    assert_eq!(
        at(&[], &twice, "2026-12-02T10:00:00Z"),
        [exp("u1", "2026-12-02T20:00:00Z")]
    );
}

#[test]
fn an_ended_user_is_cut_at_the_end() {
    let users = [user("u1", None, Some("2026-12-02T15:00:00Z"))];
    let current = [exp("u1", "2026-12-02T19:00:00Z")];
    // Revoked at 15:00 and seen right away: the expiry gives way to a cut at the end (the
    // moment access ended, not when the guard got to it: a new grant right after the end
    // is not cut).
    assert_eq!(
        at(&current, &users, "2026-12-02T15:00:02Z"),
        [cut("u1", "2026-12-02T15:00:00Z")]
    );
    // No expiry written (a first grant): the cut is at the end.
    assert_eq!(
        at(&[], &users, "2026-12-02T15:00:02Z"),
        [cut("u1", "2026-12-02T15:00:00Z")]
    );
    // The latest of the written cut and the new end.
    let earlier = [cut("u1", "2026-12-02T14:00:00Z")];
    assert_eq!(
        at(&earlier, &users, "2026-12-02T15:00:02Z"),
        [cut("u1", "2026-12-02T15:00:00Z")]
    );
    let later = [cut("u1", "2026-12-02T16:00:00Z")];
    assert_eq!(
        at(&later, &users, "2026-12-02T16:00:02Z"),
        [cut("u1", "2026-12-02T16:00:00Z")]
    );
}

#[test]
fn a_cut_goes_once_its_sessions_have_run_out() {
    let current = [cut("u1", "2026-12-02T15:00:00Z")];
    assert_eq!(at(&current, &[], "2026-12-03T02:59:59Z"), current);
    assert_eq!(at(&current, &[], "2026-12-03T03:00:00Z"), []);
    // The same for a cut only just learnt of.
    let users = [user("u1", None, Some("2026-12-02T15:00:00Z"))];
    assert_eq!(at(&[], &users, "2026-12-03T03:00:00Z"), []);
}

#[test]
fn an_expiry_without_a_grant_behind_it_becomes_a_cut() {
    let current = [exp("u1", "2026-12-02T19:00:00Z")];
    // Vanished before its end: cut now (rounded up to the second it is written with).
    assert_eq!(
        at(&current, &[], "2026-12-02T17:30:00.25Z"),
        [cut("u1", "2026-12-02T17:30:01Z")]
    );
    // Seen after its end: cut at the end, and pruned a session later.
    assert_eq!(
        at(&current, &[], "2026-12-02T20:00:00Z"),
        [cut("u1", "2026-12-02T19:00:00Z")]
    );
    assert_eq!(at(&current, &[], "2026-12-03T07:00:00Z"), []);
    // Listed, but with nothing active: the same.
    let users = [user("u1", None, None)];
    assert_eq!(
        at(&current, &users, "2026-12-02T20:00:00Z"),
        [cut("u1", "2026-12-02T19:00:00Z")]
    );
    // A later cut known wins.
    let both = [current[0].clone(), cut("u1", "2026-12-02T19:30:00Z")];
    assert_eq!(
        at(&both, &[], "2026-12-02T20:00:00Z"),
        [cut("u1", "2026-12-02T19:30:00Z")]
    );
}

#[test]
fn a_new_grant_after_a_cut_keeps_the_cut_and_adds_its_expiry() {
    let current = [cut("u1", "2026-12-02T15:00:00Z")];
    let users = [user("u1", Some("2026-12-02T22:00:00Z"), None)];
    assert_eq!(
        at(&current, &users, "2026-12-02T16:00:00Z"),
        [
            cut("u1", "2026-12-02T15:00:00Z"),
            exp("u1", "2026-12-02T22:00:00Z")
        ]
    );
    // And the cut is still pruned in time, the expiry kept.
    assert_eq!(
        at(&current, &users, "2026-12-03T03:00:00Z"),
        [exp("u1", "2026-12-02T22:00:00Z")]
    );
}

#[test]
fn a_user_with_nothing_gets_nothing() {
    assert_eq!(
        at(&[], &[user("u1", None, None)], "2026-12-02T16:00:00Z"),
        []
    );
    assert_eq!(at(&[], &[], "2026-12-02T16:00:00Z"), []);
}

#[test]
fn overlapping_grants_hold_access_past_one_end() {
    // Grant A 10:00..15:00, grant B 12:00..18:00 on the same permission set.
    let a_end = ts("2026-12-02T15:00:00Z");
    let b = Span {
        from: ts("2026-12-02T12:00:00Z"),
        until: Some(ts("2026-12-02T18:00:00Z")),
    };
    assert!(still_held(a_end, std::slice::from_ref(&b)));
    // So A's end cuts nothing, and B's expiry is what is written.
    let users = [user("u1", Some("2026-12-02T18:00:00Z"), None)];
    let current = [exp("u1", "2026-12-02T18:00:00Z")];
    let want = at(&current, &users, "2026-12-02T15:00:01Z");
    assert_eq!(want, current);
    assert!(!changed(&current, &want));

    let span = |from: &str, until: Option<&str>| Span {
        from: ts(from),
        until: until.map(ts),
    };
    let open = span("2026-12-02T12:00:00Z", None);
    let ends_then = span("2026-12-02T12:00:00Z", Some("2026-12-02T15:00:00Z"));
    let starts_then = span("2026-12-02T15:00:00Z", Some("2026-12-02T16:00:00Z"));
    let starts_later = span("2026-12-02T15:00:01Z", None);
    let ended_before = span("2026-12-02T11:00:00Z", Some("2026-12-02T14:00:00Z"));
    assert!(still_held(a_end, &[open]));
    assert!(still_held(a_end, &[starts_then]));
    assert!(!still_held(a_end, &[ends_then]));
    assert!(!still_held(a_end, std::slice::from_ref(&starts_later)));
    assert!(!still_held(a_end, &[ended_before.clone(), starts_later]));
    assert!(!still_held(a_end, &[]));
}

#[test]
fn the_result_is_sorted_by_sid_and_times_are_as_written() {
    let users = [
        user("u-2", Some("2026-12-02T19:00:00.5Z"), None),
        user("u-1", None, Some("2026-12-02T15:00:00.5Z")),
        user(
            "u-1b",
            Some("2026-12-02T19:00:00Z"),
            Some("2026-12-02T15:00:00Z"),
        ),
    ];
    let got = at(&[], &users, "2026-12-02T16:00:00Z");
    assert_eq!(
        got,
        [
            cut("u-1", "2026-12-02T15:00:01Z"),
            cut("u-1b", "2026-12-02T15:00:00Z"),
            exp("u-1b", "2026-12-02T19:00:00Z"),
            exp("u-2", "2026-12-02T19:00:00Z"),
        ]
    );
    // Written and read back, they compare unchanged.
    let inst = Installation::new("prod1").unwrap();
    let read = InlinePolicy::parse(
        &InlinePolicy::parse("", &inst)
            .unwrap()
            .with_ours(got.clone())
            .render()
            .unwrap(),
        &inst,
    )
    .unwrap();
    assert!(!changed(read.ours(), &got));
    assert!(!changed(
        read.ours(),
        &at(read.ours(), &users, "2026-12-02T16:00:00Z")
    ));
}

#[test]
fn changed_compares_sets() {
    let a = exp("u1", "2026-12-02T19:00:00Z");
    let b = cut("u2", "2026-12-02T15:00:00Z");
    assert!(!changed(&[a.clone(), b.clone()], &[b.clone(), a.clone()]));
    assert!(!changed(&[a.clone(), a.clone()], std::slice::from_ref(&a)));
    assert!(changed(std::slice::from_ref(&a), &[a.clone(), b.clone()]));
    assert!(changed(&[a], &[exp("u1", "2026-12-02T19:00:01Z")]));
    assert!(!changed(&[], &[]));
}
