//! Edge cases of alert matching (`alertmanager`) beyond the cases next to it:
//! escapes, anchoring, missing labels, label values and group ids.

use std::collections::BTreeMap;

use super::{GroupKey, Matcher, label_value, short_hash};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn m(text: &str) -> Matcher {
    Matcher::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn an_escaped_newline_and_backslash_match_the_literal_characters() {
    assert!(m(r#"x="a\nb""#).matches(&labels(&[("x", "a\nb")])));
    assert!(m(r#"x="a\\b""#).matches(&labels(&[("x", "a\\b")])));
    assert!(!m(r#"x="a\\b""#).matches(&labels(&[("x", "a\\\\b")])));
}

#[test]
fn unknown_escapes_dangling_backslashes_and_inner_quotes_are_refused() {
    for bad in [r#"x="a\tb""#, r#"x="a\""#, r#"x="a"b""#] {
        let err = Matcher::parse(bad).expect_err(bad);
        assert!(
            err.starts_with("matcher "),
            "the message names the matcher: {err}"
        );
    }
}

#[test]
fn a_regex_alternation_is_anchored_as_a_whole() {
    let re = m(r#"severity=~"crit|page""#);
    assert!(re.matches(&labels(&[("severity", "page")])));
    assert!(
        !re.matches(&labels(&[("severity", "critical")])),
        "not crit.*"
    );
    assert!(!re.matches(&labels(&[("severity", "xpage")])), "not .*page");
}

#[test]
fn a_negative_regex_matches_a_missing_label_unless_it_accepts_empty() {
    let l = labels(&[]);
    assert!(m(r#"team!~"web|api""#).matches(&l));
    assert!(!m(r#"team!~".*""#).matches(&l));
    assert!(m(r#"team=~".*""#).matches(&l));
}

#[test]
fn not_equal_to_empty_requires_the_label() {
    let ne = m(r#"team!="""#);
    assert!(!ne.matches(&labels(&[])));
    assert!(ne.matches(&labels(&[("team", "web")])));
}

#[test]
fn values_are_case_sensitive_and_unquoted_ones_are_trimmed() {
    assert!(!m("alertname=higherrorrate").matches(&labels(&[("alertname", "HighErrorRate")])));
    assert!(
        m("  alertname =  HighErrorRate  ").matches(&labels(&[("alertname", "HighErrorRate")]))
    );
}

#[test]
fn label_names_may_hold_underscores_and_digits_but_not_start_with_a_digit() {
    assert!(m("_a1=x").matches(&labels(&[("_a1", "x")])));
    assert!(Matcher::parse("9a=x").is_err());
    assert!(
        Matcher::parse("a-b=x").is_err(),
        "a dash ends the name: no operator"
    );
}

#[test]
fn label_values_keep_safe_characters_and_trim_the_rest() {
    assert_eq!(label_value("0123456789abcdef"), "0123456789abcdef");
    assert_eq!(label_value("a b/c"), "a_b_c");
    assert_eq!(label_value("__x__"), "x", "must start and end alphanumeric");
    assert_eq!(label_value("-.-"), "");
    assert_eq!(label_value(&"a".repeat(100)).len(), 63);
}

#[test]
fn short_hashes_are_sixteen_hex_digits_and_stable() {
    let h = short_hash("abc");
    assert_eq!(h, "ba7816bf8f01cfea", "SHA-256 of abc, first 8 bytes");
    assert_ne!(short_hash("abd"), h);
}

#[test]
fn group_ids_change_with_every_part_of_the_key() {
    let base = GroupKey {
        policy: "p".into(),
        rule: "r".into(),
        namespace: "n".into(),
        user: "u".into(),
    };
    let id = base.id();
    assert_eq!(id.len(), 16);
    let variants = [
        GroupKey {
            policy: "p2".into(),
            ..base.clone()
        },
        GroupKey {
            rule: "r2".into(),
            ..base.clone()
        },
        GroupKey {
            namespace: "n2".into(),
            ..base.clone()
        },
        GroupKey {
            user: "u2".into(),
            ..base.clone()
        },
    ];
    for v in variants {
        assert_ne!(v.id(), id, "{v:?}");
    }
    // The parts are separated: moving a character between them changes the id.
    let shifted = GroupKey {
        policy: "pr".into(),
        rule: String::new(),
        ..base
    };
    assert_ne!(shifted.id(), id);
}
