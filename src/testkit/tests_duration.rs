//! Go duration parsing (`api::GoDuration`): edges beyond the cases next to it.

use std::time::Duration;

use crate::api::{DurationError, GoDuration};

fn parse(s: &str) -> Result<Duration, DurationError> {
    GoDuration::parse(s).map(GoDuration::as_std)
}

#[test]
fn from_str_is_parse() {
    let a: GoDuration = "1h30m".parse().expect("parses");
    assert_eq!(Ok(a), GoDuration::parse("1h30m"));
    assert!("1d".parse::<GoDuration>().is_err());
}

#[test]
fn a_sum_of_zeros_is_not_positive() {
    assert!(matches!(
        parse("0h0m0s"),
        Err(DurationError::NotPositive { .. })
    ));
    assert!(matches!(
        parse("0.0s"),
        Err(DurationError::NotPositive { .. })
    ));
}

#[test]
fn units_may_repeat_and_come_in_any_order_as_in_go() {
    assert_eq!(parse("30m1h"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse("1m1m"), Ok(Duration::from_secs(120)));
}

#[test]
fn fractions_of_each_unit_are_exact() {
    assert_eq!(parse("1.25m"), Ok(Duration::from_secs(75)));
    assert_eq!(parse("0.001s"), Ok(Duration::from_millis(1)));
    assert_eq!(parse("1.5us"), Ok(Duration::from_nanos(1500)));
    assert_eq!(
        parse("5."),
        Err(DurationError::Invalid {
            input: "5.".into(),
            why: "missing unit (ns, us, ms, s, m, h)"
        })
    );
    assert_eq!(
        parse("5.s"),
        Ok(Duration::from_secs(5)),
        "Go accepts a trailing dot"
    );
}

#[test]
fn digits_beyond_nanoseconds_are_dropped_not_rounded() {
    assert_eq!(parse("1.0000000019s"), Ok(Duration::new(1, 1)));
    assert_eq!(
        parse("0.99999999999999999999999s"),
        Ok(Duration::new(0, 999_999_999))
    );
}

#[test]
fn the_range_ends_where_go_s_int64_nanoseconds_end() {
    // i64::MAX ns is 2562047h47m16.854775807s.
    assert!(parse("2562047h").is_ok());
    assert_eq!(
        parse("2562048h"),
        Err(DurationError::Invalid {
            input: "2562048h".into(),
            why: "out of range"
        })
    );
}

#[test]
fn a_missing_unit_and_an_unknown_unit_say_which() {
    let why = |s: &str| match parse(s) {
        Err(DurationError::Invalid { why, .. }) => why,
        other => panic!("{s}: {other:?}"),
    };
    assert!(why("10").starts_with("missing unit"));
    assert!(why("10w").starts_with("unknown unit"));
    assert!(
        why("1h5").starts_with("missing unit"),
        "every number needs its unit"
    );
    assert_eq!(why("h1"), "expected a number");
}

#[test]
fn display_round_trips_through_parse() {
    for s in [
        "1s",
        "59s",
        "1m0s",
        "1h0m0s",
        "23h59m59s",
        "1.5s",
        "2h0m0.001s",
        "0.000000001s",
    ] {
        let d = GoDuration::parse(s).expect(s);
        assert_eq!(d.to_string(), s);
        assert_eq!(GoDuration::parse(&d.to_string()), Ok(d));
    }
}

#[test]
fn display_of_sub_second_durations_trims_trailing_zeros() {
    assert_eq!(GoDuration::parse("100ms").expect("ok").to_string(), "0.1s");
    assert_eq!(
        GoDuration::parse("1m0.5s").expect("ok").to_string(),
        "1m0.5s"
    );
}
