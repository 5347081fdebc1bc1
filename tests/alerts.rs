//! The chart's alerts and dashboard: the rule file (charts/breakglass-operator/files/
//! alerts.yaml) checked by promtool and unit-tested with it, every alert shown both firing
//! and staying quiet (tests/fixtures/alerts/); the chart shipping exactly that file and the
//! dashboard; and every metric an alert or a panel queries exported by the operator.
//! Needs no test environment: promtool (tests/env/promtool.sh) and helm only.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use common::{installed, repo_path};
use serde_json::Value;

const CHART: &str = "charts/breakglass-operator";
const RULES: &str = "charts/breakglass-operator/files/alerts.yaml";
const DASHBOARD: &str = "charts/breakglass-operator/files/dashboard.json";
const FIXTURES: &str = "tests/fixtures/alerts";

/// Runs a command in the repository; its exit status and combined output.
fn run(program: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(repo_path(""))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The shipped alerts: name → expression.
fn alerts() -> BTreeMap<String, String> {
    let rules = yaml_file(&repo_path(RULES));
    let mut out = BTreeMap::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .expect("only alerting rules")
                .to_owned();
            let expr = rule["expr"].as_str().expect("expr").to_owned();
            assert!(out.insert(name.clone(), expr).is_none(), "{name} twice");
        }
    }
    out
}

/// The unit-test files, relative to the repository.
fn fixtures() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_path(FIXTURES))
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("{FIXTURES}/{n}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no promtool tests in {FIXTURES}");
    files
}

#[test]
fn promtool_accepts_the_rules() {
    let promtool = installed("tests/env/promtool.sh");
    let (ok, out) = run(&promtool, &["check", "rules", RULES]);
    let found = format!("SUCCESS: {} rules found", alerts().len());
    assert!(ok && out.contains(&found), "promtool check rules:\n{out}");
}

/// Each alert has a case where it fires and one where it must not; then promtool runs them
/// all against the shipped file.
#[test]
fn every_alert_fires_and_stays_quiet_in_promtools_unit_tests() {
    let alerts = alerts();
    let rules = std::fs::canonicalize(repo_path(RULES)).expect("rules");
    let mut fires: BTreeMap<&str, usize> = alerts.keys().map(|a| (a.as_str(), 0)).collect();
    let mut quiet = fires.clone();
    let files = fixtures();
    for file in &files {
        let path = repo_path(file);
        let test = yaml_file(&path);
        let rule_files: Vec<PathBuf> = test["rule_files"]
            .as_array()
            .expect("rule_files")
            .iter()
            .map(|f| path.parent().expect("dir").join(f.as_str().expect("path")))
            .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
            .collect();
        assert_eq!(rule_files, vec![rules.clone()], "{file} tests another file");
        for case in test["tests"].as_array().expect("tests") {
            for check in case["alert_rule_test"].as_array().expect("alert_rule_test") {
                let name = check["alertname"].as_str().expect("alertname");
                let expected = check["exp_alerts"].as_array().map_or(0, Vec::len);
                let counter = if expected > 0 { &mut fires } else { &mut quiet };
                *counter
                    .get_mut(name)
                    .unwrap_or_else(|| panic!("{file}: no alert {name} in {RULES}")) += 1;
            }
        }
    }
    for (name, n) in &fires {
        assert!(*n > 0, "no promtool test shows {name} firing");
        assert!(
            quiet[name] > 0,
            "no promtool test shows {name} staying quiet"
        );
    }

    let promtool = installed("tests/env/promtool.sh");
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let (ok, out) = run(&promtool, &args);
    assert!(
        ok && out.matches("SUCCESS").count() == files.len(),
        "promtool test rules:\n{out}"
    );
}

fn helm_template(extra: &[&str]) -> Vec<Value> {
    let helm = installed("tests/env/helm.sh");
    let mut args = vec!["template", "r", CHART, "--kube-version", "1.34.4"];
    args.extend_from_slice(extra);
    let (ok, out) = run(&helm, &args);
    assert!(ok, "helm template {extra:?}:\n{out}");
    serde_yaml::Deserializer::from_str(&out)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter(|v: &Value| v.is_object())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind)
}

#[test]
fn the_chart_ships_the_tested_rules_and_the_dashboard() {
    let off = helm_template(&[]);
    assert!(kind(&off, "PrometheusRule").is_none() && kind(&off, "ConfigMap").is_none());

    let on = helm_template(&[
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.dashboard.enabled=true",
    ]);
    let rule = kind(&on, "PrometheusRule").expect("PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    let file = yaml_file(&repo_path(RULES));
    assert_eq!(
        rule["spec"]["groups"], file["groups"],
        "the PrometheusRule is not files/alerts.yaml"
    );
    let map = kind(&on, "ConfigMap").expect("dashboard ConfigMap");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped: Value = serde_json::from_str(
        map["data"]["breakglass-operator.json"]
            .as_str()
            .expect("dashboard data"),
    )
    .expect("the shipped dashboard is JSON");
    assert_eq!(shipped, dashboard());

    // Labels added to every alert (winning over the file's), and alerts left out.
    let tuned = helm_template(&[
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.prometheusRule.ruleLabels.team=platform",
        "--set",
        "metrics.prometheusRule.ruleLabels.severity=page",
        "--set",
        "metrics.prometheusRule.disabled={BreakglassSweepStalled}",
    ]);
    let rules =
        &kind(&tuned, "PrometheusRule").expect("PrometheusRule")["spec"]["groups"][0]["rules"];
    let names: BTreeSet<&str> = rules
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            assert_eq!(r["labels"]["team"], "platform", "{r}");
            assert_eq!(r["labels"]["severity"], "page", "{r}");
            r["alert"].as_str().expect("alert")
        })
        .collect();
    let mut want: BTreeSet<&str> = BTreeSet::new();
    let all = alerts();
    want.extend(all.keys().map(String::as_str));
    want.remove("BreakglassSweepStalled");
    assert_eq!(names, want);
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(repo_path(DASHBOARD)).expect("dashboard");
    serde_json::from_str(&text).expect("dashboard JSON")
}

/// A grant for the leader's cache: Active, past its expiry, holding an Application paused.
const CACHED_GRANT: &str = r#"
apiVersion: breakglass.dev/v1alpha1
kind: BreakGlassGrant
metadata: {name: g, namespace: incidents, uid: u-1}
spec: {policy: prod-admin, user: alice, requestedBy: alice, reason: outage, incident: {id: INC-1}}
status:
  phase: Active
  grantedAt: "2020-01-01T10:00:00Z"
  expiresAt: "2020-01-01T11:00:00Z"
  pausedTargets:
    - {apiVersion: argoproj.io/v1alpha1, kind: Application, namespace: argocd, name: payments, method: DisableAutoSync, state: Paused}
"#;

/// Every series name `/metrics` can show, from the `# TYPE` lines of the exposition. A
/// labelled family is only exposed once it has a series, so every kind of event is
/// recorded once first, and the leader's cache holds a grant; the result must be
/// `Metrics::exported_names()`, the registered families (a new family with labels needs
/// its recording call here).
fn exported() -> BTreeSet<String> {
    use kube::runtime::{reflector, watcher};
    let m = breakglass::telemetry::Metrics::new();
    m.webhook_request("ok");
    m.webhook_alerts("written", 1);
    m.webhook_write("create");
    m.grant_created("alertmanager");
    m.grant_resolved("alertmanager");
    m.reconciled();
    m.reconcile_error("AwsError");
    m.aws.throttled("identitystore", "GetUserId");
    m.aws.call("identitystore", "GetUserId", "ok");
    m.aws.budget("identitystore", "d-1", 18.0);
    m.drift("orphan", 1);
    m.pauses.orphaned("Application");
    m.pauses.refused("Application");
    m.swept("ok");
    m.granted_after(0.1);
    m.revoked_after("Expired", 0.1);
    m.held_for(10.0);
    m.set_leader(true);
    drop(m.reconciling("incidents/g".into()));
    m.sweep_succeeded("group");
    m.guard
        .statements("arn:aws:sso:::permissionSet/ssoins-1/ps-1", 1);
    m.guard.provisioned_after(1.0);
    m.guard.failed("PolicyTooLarge");
    m.ledger.ignored("foreign", 0);
    let (store, mut writer) = reflector::store();
    let grant: breakglass::api::BreakGlassGrant =
        serde_yaml::from_str(CACHED_GRANT).expect("grant");
    writer.apply_watcher_event(&watcher::Event::Apply(grant));
    m.observe_grants(Some(store));

    let text = m.encode();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            panic!("odd TYPE line: {line}");
        };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "summary" => &["", "_sum", "_count"],
            "info" => &["_info"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    // The exposition had every family (a TYPE line each, every sample under one).
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let series = line.split(['{', ' ']).next().unwrap_or_default();
        assert!(
            names.contains(series),
            "{series} under no TYPE line:\n{text}"
        );
    }
    let registered: BTreeSet<String> = m.exported_names().into_iter().collect();
    assert_eq!(
        names, registered,
        "the exposition (left) and the registered families (right) differ:\n{text}"
    );
    names
}

/// The metric names a PromQL expression selects (Grafana `$variables` allowed). Skipped:
/// strings, numbers and durations; everything inside `{...}` (label matchers) and `[...]`
/// (ranges); label lists after by/without/on/ignoring/group_left/group_right; functions
/// and aggregations (a name followed by `(`, or an aggregation before its `by`); keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "atan2",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    let s: Vec<char> = expr.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let (mut nesting, mut list_next, mut in_list) = (0usize, false, false);
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if matches!(c, '"' | '\'' | '`') {
            i += 1;
            while i < s.len() && s[i] != c {
                i += if s[i] == '\\' && c != '`' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if c == '$' {
            // A Grafana variable: $name, ${name} or $__interval.
            i += 1;
            if s.get(i) == Some(&'{') {
                while i < s.len() && s[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < s.len() && ident(s[i]) {
                    i += 1;
                }
            }
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && s.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < s.len() && (ident(s[i]) || s[i] == '.') {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < s.len() && ident(s[i]) {
                i += 1;
            }
            let word: String = s[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            let next = s[i..].iter().find(|c| !c.is_whitespace()).copied();
            if nesting > 0 || in_list {
                continue; // a label name, or a duration's unit
            }
            list_next = false; // group_left/right may come without a list
            if LISTS.contains(&lower.as_str()) {
                list_next = true;
            } else if next != Some('(') && !KEYWORDS.contains(&lower.as_str()) {
                names.insert(word);
            }
            continue;
        }
        match c {
            '{' | '[' => nesting += 1,
            '}' | ']' => nesting = nesting.saturating_sub(1),
            '(' if list_next && nesting == 0 => (list_next, in_list) = (false, true),
            ')' if in_list => in_list = false,
            _ => {}
        }
        i += 1;
    }
    names
}

/// Every `breakglass_…` word in a text, however it is used: a cross-check of the extractor.
fn prefixed_words(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("breakglass_") {
        let before = rest[..at].chars().next_back();
        let word: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.insert(word.clone());
        }
        rest = &rest[at + word.len()..];
    }
    out
}

#[test]
fn the_metric_name_extractor_skips_what_is_not_a_metric() {
    for (expr, want) in [
        (
            r#"sum by (namespace, job) (rate(a_total{outcome!~"ok|x_total", job=~"$job"}[5m]))"#,
            vec!["a_total"],
        ),
        (
            "(time() - b) > 300 and on (namespace, instance) c == 1",
            vec!["b", "c"],
        ),
        ("max by (job) (d) < 1 or absent(e)", vec!["d", "e"]),
        (
            "histogram_quantile(0.95, sum without (pod) (rate(f_bucket[$__rate_interval])))",
            vec!["f_bucket"],
        ),
        (
            "g * on (instance) group_left h + ignoring(x) k offset 5m BY",
            vec!["g", "h", "k"],
        ),
        (
            "l * on (instance) group_left (pod) m unless count(n) > 1e3",
            vec!["l", "m", "n"],
        ),
        ("topk(3, o) / ${var} - sum(p{a='b\\'c'})", vec!["o", "p"]),
    ] {
        let got: Vec<String> = metric_names(expr).into_iter().collect();
        assert_eq!(got, want, "{expr}");
    }
    assert_eq!(
        prefixed_words("x{a=\"breakglass_no\"} + breakglass_a_total/breakglass_b"),
        BTreeSet::from(["breakglass_a_total", "breakglass_b", "breakglass_no"].map(String::from))
    );
}

/// Where each query of the dashboard is: (what, PromQL).
fn dashboard_queries() -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            if panel["type"] == "row" {
                walk(&panel["panels"], out);
                continue;
            }
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "panel {title:?} has no query");
            for t in targets {
                let expr = t["expr"].as_str().unwrap_or_default();
                assert!(!expr.trim().is_empty(), "panel {title:?}: empty query");
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "panel {title:?} picks its own data source"
                );
                out.push((format!("panel {title:?}"), expr.to_owned()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard()["panels"], &mut out);
    out
}

#[test]
fn every_metric_an_alert_or_a_panel_queries_is_exported() {
    let exported = exported();
    let mut queries: Vec<(String, String)> = alerts()
        .into_iter()
        .map(|(name, expr)| (format!("alert {name}"), expr))
        .collect();
    queries.extend(dashboard_queries());
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (what, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{what} queries no metric: {expr}");
        assert_eq!(
            names,
            prefixed_words(expr),
            "{what}: the extractor and the breakglass_ words disagree: {expr}"
        );
        for name in names {
            assert!(
                name.starts_with("breakglass_"),
                "{what} queries {name}, not the operator's: {expr}"
            );
            if !exported.contains(&name) {
                missing.entry(name).or_default().push(what.clone());
            }
        }
    }
    // Grafana's variable queries (label_values(metric, label)) name metrics too.
    for variable in dashboard()["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        let text = variable["query"].to_string();
        for name in prefixed_words(&text) {
            if !exported.contains(&name) {
                let what = format!("variable {}", variable["name"]);
                missing.entry(name).or_default().push(what);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "queried but not exported by breakglass::telemetry::Metrics: {missing:#?}\nexported: {exported:#?}"
    );
}
