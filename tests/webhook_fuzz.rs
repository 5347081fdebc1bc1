//! Property tests of the webhook's parsers on hostile input: the payload parser and the
//! Alertmanager matcher parser never panic, and what they accept keeps their promises.
//! Inputs are mutations of the corpus in `tests/fixtures/alertmanager/corpus/` (recorded
//! payloads and matchers) and arbitrary text. `BREAKGLASS_FUZZ_CASES` raises the number of
//! cases per property (default 2000); the executions run are printed.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
};

use breakglass::webhook::alertmanager::{MAX_ALERTS, Matcher, parse};
use proptest::prelude::*;

static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alertmanager/corpus")
}

fn payload_corpus() -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the corpus lost its payloads: {files:?}");
    files
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

fn matcher_corpus() -> Vec<String> {
    let text = std::fs::read_to_string(corpus_dir().join("matchers.txt")).expect("matchers.txt");
    text.lines().map(str::to_owned).collect()
}

fn cases() -> u32 {
    std::env::var("BREAKGLASS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// One edit of a byte string: flip, insert, delete, truncate or splice in JSON tokens.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just(b"\"".to_vec()),
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b",".to_vec()),
        Just(b"null".to_vec()),
        Just(b"\"resolved\"".to_vec()),
        Just(b"\\u0000".to_vec()),
        Just("é✓".as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), token).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len().max(1);
        match e {
            Edit::Flip(i, b) => {
                if !bytes.is_empty() {
                    let i = i % bytes.len();
                    bytes[i] ^= b;
                }
            }
            Edit::Insert(i, t) => {
                let i = i % (bytes.len() + 1);
                bytes.splice(i..i, t.iter().copied());
            }
            Edit::Delete(i, n) => {
                let i = i % len;
                let end = (i + n).min(bytes.len());
                if i < end {
                    bytes.drain(i..end);
                }
            }
            Edit::Truncate(i) => bytes.truncate(i % len),
        }
    }
    bytes
}

fn check_payload(body: &[u8]) {
    EXECUTIONS.fetch_add(1, Ordering::Relaxed);
    if let Ok(p) = parse(body) {
        assert_eq!(p.version, "4");
        assert!(p.alerts.len() <= MAX_ALERTS);
        for a in &p.alerts {
            assert!(!a.fingerprint.trim().is_empty() && !a.starts_at.trim().is_empty());
        }
    }
}

/// The label name and the text after it, split where the matcher parser splits them.
fn name_and_rest(text: &str) -> (&str, &str) {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

/// The same matcher with the opposite operator (`=` and `!=`, `=~` and `!~`).
fn negated(text: &str) -> Option<String> {
    let (name, rest) = name_and_rest(text);
    let (op, value) = ["=~", "!~", "!=", "="]
        .into_iter()
        .find_map(|op| rest.strip_prefix(op).map(|v| (op, v)))?;
    let opposite = match op {
        "=~" => "!~",
        "!~" => "=~",
        "!=" => "=",
        _ => "!=",
    };
    Some(format!("{name}{opposite}{value}"))
}

/// What every accepted matcher must do, whatever the labels: its negation (the opposite
/// operator, same value) is accepted too and decides the opposite; a missing label is
/// matched as `""`; labels other than its own change nothing.
fn check_matcher(text: &str, labels: &BTreeMap<String, String>) {
    EXECUTIONS.fetch_add(1, Ordering::Relaxed);
    let Ok(m) = Matcher::parse(text) else {
        return;
    };
    let verdict = m.matches(labels);
    let negation = negated(text).expect("an accepted matcher has an operator");
    let not = Matcher::parse(&negation)
        .unwrap_or_else(|e| panic!("{text:?} accepted, its negation {negation:?} not: {e}"));
    assert_eq!(
        not.matches(labels),
        !verdict,
        "{text:?} and {negation:?} agree on {labels:?}"
    );
    let (name, _) = name_and_rest(text);
    let mut without = labels.clone();
    without.remove(name);
    let mut empty = without.clone();
    empty.insert(name.to_owned(), String::new());
    assert_eq!(
        m.matches(&without),
        m.matches(&empty),
        "{text:?}: a missing label is not matched as empty"
    );
    let mut more = labels.clone();
    let other = format!("{name}_other");
    more.insert(other, "x".into());
    assert_eq!(
        m.matches(&more),
        verdict,
        "{text:?}: another label changed it"
    );
}

/// Quotes `value` as Alertmanager does, for the round trip.
fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn run<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{name}: {e}");
    }
}

/// Every property in one test, so the executions can be counted and reported together.
#[test]
fn the_payload_and_matcher_parsers_survive_hostile_input() {
    let payloads = payload_corpus();
    let matchers = matcher_corpus();
    run(
        "mutated corpus payloads",
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(edit(), 1..6),
        ),
        |(seed, edits)| {
            check_payload(&mutate(seed.get(&payloads).clone(), &edits));
            Ok(())
        },
    );
    run(
        "arbitrary bytes as a payload",
        prop::collection::vec(any::<u8>(), 0..512),
        |body| {
            check_payload(&body);
            Ok(())
        },
    );
    run(
        "mutated corpus matchers",
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(edit(), 1..4),
            "[a-z_]{1,8}",
            any::<String>(),
        ),
        |(seed, edits, label, value)| {
            let bytes = mutate(seed.get(&matchers).clone().into_bytes(), &edits);
            check_matcher(
                &String::from_utf8_lossy(&bytes),
                &BTreeMap::from([(label, value)]),
            );
            Ok(())
        },
    );
    run(
        "arbitrary matcher text",
        (any::<String>(), any::<String>()),
        |(text, value)| {
            check_matcher(&text, &BTreeMap::from([("alertname".to_owned(), value)]));
            Ok(())
        },
    );
    // Corpus matchers unmutated, against their own label with values that match and not.
    run(
        "corpus matchers on their own label",
        (
            any::<prop::sample::Index>(),
            prop_oneof![Just(String::new()), "[a-z|.*]{0,12}", any::<String>()],
        ),
        |(seed, value)| {
            let text = seed.get(&matchers);
            let (name, _) = name_and_rest(text);
            check_matcher(text, &BTreeMap::from([(name.to_owned(), value)]));
            Ok(())
        },
    );
    run(
        "quoted equality matchers round-trip",
        (
            "[a-zA-Z_][a-zA-Z0-9_]{0,20}",
            any::<String>(),
            any::<String>(),
        ),
        |(name, value, other)| {
            EXECUTIONS.fetch_add(1, Ordering::Relaxed);
            let m = Matcher::parse(&format!("{name}={}", quote(&value)))
                .map_err(|e| TestCaseError::fail(format!("{name}={value:?}: {e}")))?;
            prop_assert!(m.matches(&BTreeMap::from([(name.clone(), value.clone())])));
            prop_assert_eq!(
                m.matches(&BTreeMap::from([(name, other.clone())])),
                other == value
            );
            Ok(())
        },
    );
    // Every corpus entry itself, unmutated.
    payloads.iter().for_each(|b| check_payload(b));
    println!(
        "FUZZ executions: {} (6 properties, {} cases each, plus the corpus)",
        EXECUTIONS.load(Ordering::Relaxed),
        cases()
    );
}
