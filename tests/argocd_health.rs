//! Proves the Argo CD health checks in `examples/argocd/` judge our objects as documented:
//! every fixture in `tests/fixtures/health/` is run through its kind's Lua script under the
//! real Lua 5.1 interpreter (Argo CD's gopher-lua implements Lua 5.1) and must get the health
//! its `test.breakglass.dev/expect-health` annotation names, with a message. Also proves the
//! fixtures cover Progressing, Healthy and Degraded for both kinds, that sparse objects do
//! not crash the scripts, and that `argocd-cm.yaml` embeds each script byte for byte.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_yaml::Value;

const EXPECT_ANNOTATION: &str = "test.breakglass.dev/expect-health";
const LUA: &str = "lua5.1";

/// (kind, script under `examples/argocd/health/`, key in `argocd-cm`).
const SCRIPTS: [(&str, &str, &str); 2] = [
    (
        "BreakGlassGrant",
        "breakglassgrant.lua",
        "resource.customizations.health.breakglass.dev_BreakGlassGrant",
    ),
    (
        "BreakGlassPolicy",
        "breakglasspolicy.lua",
        "resource.customizations.health.breakglass.dev_BreakGlassPolicy",
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn script(kind: &str) -> String {
    let (_, file, _) = SCRIPTS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .unwrap_or_else(|| panic!("no health script for kind {kind:?}"));
    read(&root().join("examples/argocd/health").join(file))
}

/// A Lua 5.1 string literal. Bytes other than printable ASCII and UTF-8 are written as
/// three-digit decimal escapes, so a following digit cannot extend them.
fn lua_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                write!(out, "\\{:03}", c as u32).expect("writing to a String cannot fail");
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Map keys as Argo CD sees them: JSON object keys are strings.
fn lua_key(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("unsupported map key in fixture: {other:?}"),
    }
}

/// The object as a Lua table constructor, the shape Argo CD hands the script in `obj`.
fn lua_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // YAML writes non-finite floats as `.nan`/`.inf`, which Lua does not parse.
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_nan() => out.push_str("(0/0)"),
            Some(f) if f.is_infinite() => out.push_str(if f > 0.0 { "(1/0)" } else { "(-1/0)" }),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => lua_string(s, out),
        Value::Sequence(items) => {
            out.push('{');
            for item in items {
                lua_value(item, out);
                out.push_str(", ");
            }
            out.push('}');
        }
        Value::Mapping(map) => {
            out.push('{');
            for (k, v) in map {
                // A JSON null field is an absent one to the script.
                if v.is_null() {
                    continue;
                }
                out.push('[');
                lua_string(&lua_key(k), out);
                out.push_str("] = ");
                lua_value(v, out);
                out.push_str(", ");
            }
            out.push('}');
        }
        Value::Tagged(tagged) => lua_value(&tagged.value, out),
    }
}

struct Health {
    status: String,
    message: String,
    stderr: String,
}

/// Runs `script` on `obj` the way Argo CD does: `obj` global, the script's `return hs`.
fn run(obj: &Value, script: &str) -> Result<Health, String> {
    let mut program = String::from("obj = ");
    lua_value(obj, &mut program);
    program.push_str("\nlocal hs = (function()\n");
    program.push_str(script);
    program.push_str("\nend)()\nio.write(hs.status, \"\\n\", hs.message or \"\", \"\\n\")\n");

    let mut child = match Command::new(LUA)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{LUA} is not installed; `make test` installs it (tests/env/deps.sh), \
             or run `apt-get install lua5.1`"
        ),
        Err(e) => panic!("starting {LUA}: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(program.as_bytes())
        .unwrap_or_else(|e| panic!("writing the program to {LUA}: {e}"));
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {LUA}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(format!("{LUA} failed ({}): {stderr}", output.status));
    }
    let (status, message) = stdout
        .split_once('\n')
        .ok_or_else(|| format!("unexpected output {stdout:?}; stderr: {stderr}"))?;
    Ok(Health {
        status: status.to_owned(),
        message: message.strip_suffix('\n').unwrap_or(message).to_owned(),
        stderr,
    })
}

fn fixtures() -> Vec<PathBuf> {
    let dir = root().join("tests/fixtures/health");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("reading a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    paths
}

#[test]
fn fixtures_get_their_expected_health() {
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    let mut failures = Vec::new();
    for path in fixtures() {
        let name = path
            .file_name()
            .expect("fixture has a file name")
            .to_string_lossy()
            .into_owned();
        let obj: Value = serde_yaml::from_str(&read(&path))
            .unwrap_or_else(|e| panic!("parsing fixture {name}: {e}"));
        let kind = obj["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("fixture {name} has no kind"))
            .to_owned();
        let expected = obj["metadata"]["annotations"][EXPECT_ANNOTATION]
            .as_str()
            .unwrap_or_else(|| panic!("fixture {name} has no {EXPECT_ANNOTATION} annotation"))
            .to_owned();
        assert!(
            obj["metadata"]["generation"].is_number(),
            "fixture {name} needs metadata.generation"
        );
        match run(&obj, &script(&kind)) {
            Err(e) => failures.push(format!("{name}: {e}")),
            Ok(h) if h.status != expected => failures.push(format!(
                "{name}: expected {expected}, got {} (message {:?}, stderr {:?})",
                h.status, h.message, h.stderr
            )),
            Ok(h) if h.message.trim().is_empty() => {
                failures.push(format!(
                    "{name}: {} with an empty message (stderr {:?})",
                    h.status, h.stderr
                ));
            }
            Ok(h) => {
                println!("{name}: {} ({})", h.status, h.message);
                covered.insert((kind, h.status));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "health checks failed:\n{}",
        failures.join("\n")
    );
    for (kind, _, _) in SCRIPTS {
        for status in ["Progressing", "Healthy", "Degraded"] {
            assert!(
                covered.contains(&(kind.to_owned(), status.to_owned())),
                "no fixture shows a {kind} as {status}"
            );
        }
    }
}

#[test]
fn sparse_objects_do_not_break_the_scripts() {
    // Shapes Argo CD may see before or while the operator works: nothing, empty status,
    // no generation, no conditions, unknown phase.
    let cases = [
        "{}",
        "metadata: {}",
        "status: {}",
        "metadata: {generation: 1}\nstatus: {}",
        "status: {phase: Active}",
        "status: {phase: Ended}",
        "status: {phase: Pending, conditions: []}",
        "status: {phase: Denied, conditions: [{type: Ready}]}",
        "status: {phase: Surprise, observedGeneration: 1, conditions: [{type: Stalled, status: Unknown}]}",
        "status: {conditions: [{type: Ready, status: 'False', reason: Unsupported}]}",
        "status: {conditions: [{type: Ready, status: 'True', message: ''}]}",
    ];
    let known = [
        "Healthy",
        "Progressing",
        "Degraded",
        "Suspended",
        "Missing",
        "Unknown",
    ];
    for (kind, _, _) in SCRIPTS {
        for case in cases {
            let obj: Value =
                serde_yaml::from_str(case).unwrap_or_else(|e| panic!("parsing {case:?}: {e}"));
            let h = run(&obj, &script(kind))
                .unwrap_or_else(|e| panic!("{kind} script on {case:?}: {e}"));
            assert!(
                known.contains(&h.status.as_str()),
                "{kind} script on {case:?}: unknown status {:?}",
                h.status
            );
            assert!(
                !h.message.trim().is_empty(),
                "{kind} script on {case:?}: {} with an empty message",
                h.status
            );
        }
    }
}

#[test]
fn lua_strings_survive_escaping() {
    let tricky = "back\\slash \"quoted\" 'single'\nnew line\r\ttab \u{1}1 ]] [[ é";
    let obj = Value::String(tricky.to_owned());
    let h = run(
        &obj,
        "return {status = obj, message = string.len(obj) .. \" bytes\"}",
    )
    .unwrap_or_else(|e| panic!("echo script: {e}"));
    // The status line ends at the first newline the string itself contains.
    let (first, _) = tricky.split_once('\n').expect("the string has a newline");
    assert_eq!(h.status, first);
    assert!(
        h.message.ends_with(&format!("{} bytes", tricky.len())),
        "Lua saw a different string: {:?}",
        h.message
    );
}

#[test]
fn argocd_cm_embeds_the_scripts_exactly() {
    let path = root().join("examples/argocd/argocd-cm.yaml");
    let cm: Value = serde_yaml::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"), "argocd-cm kind");
    assert_eq!(cm["metadata"]["name"].as_str(), Some("argocd-cm"));
    assert_eq!(cm["metadata"]["namespace"].as_str(), Some("argocd"));
    for (kind, file, key) in SCRIPTS {
        let embedded = cm["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("argocd-cm.yaml has no data[{key:?}]"));
        assert!(
            embedded == script(kind),
            "argocd-cm.yaml data[{key:?}] differs from examples/argocd/health/{file}; \
             copy the file into the block, indented by four spaces"
        );
    }
}
