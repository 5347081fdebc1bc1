//! The faults: AWS answers from the fault proxy (throttling, 5xx, dropped connections,
//! stalls, IN_PROGRESS and FAILED assignment statuses), kube-apiserver killed and started
//! again on the same etcd, and finalizers stripped by hand.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    Error,
    common::*,
    rng::Rng,
    world::{Kind, USERS},
};

/// Operations the operator makes, and the answers each may get.
const AWS_FAULTS: &[(&str, &[&str])] = &[
    (
        "CreateGroupMembership",
        &["throttle", "server_error", "drop", "stall"],
    ),
    (
        "DeleteGroupMembership",
        &["throttle", "server_error", "drop", "stall"],
    ),
    (
        "ListGroupMemberships",
        &["throttle", "server_error", "drop", "stall"],
    ),
    (
        "GetGroupMembershipId",
        &["throttle", "server_error", "stall"],
    ),
    ("AssumeRole", &["throttle", "server_error", "drop", "stall"]),
    (
        "CreateAccountAssignment",
        &[
            "throttle",
            "server_error",
            "drop",
            "in_progress",
            "failed",
            "stall",
        ],
    ),
    (
        "DeleteAccountAssignment",
        &["throttle", "server_error", "in_progress", "failed", "stall"],
    ),
    (
        "DescribeAccountAssignmentCreationStatus",
        &["in_progress", "failed", "throttle", "stall"],
    ),
    (
        "DescribeAccountAssignmentDeletionStatus",
        &["in_progress", "throttle"],
    ),
    (
        "ListAccountAssignments",
        &["throttle", "server_error", "drop", "stall"],
    ),
];

/// Operations whose request names the user (an Identity Store user id): a stall of one of
/// them may hold only one person's calls.
const NAME_THE_USER: [&str; 4] = [
    "CreateGroupMembership",
    "GetGroupMembershipId",
    "CreateAccountAssignment",
    "DeleteAccountAssignment",
];

/// A draw of AWS fault rules, and the grant that meets the first one: its policy's kind
/// (`None`: either) and the user it is narrowed to.
pub struct AwsDraw {
    pub rules: Value,
    pub meets: (Option<Kind>, Option<&'static str>),
}

/// One to three AWS fault rules, each answering a few requests; named `<answer>-<n>` so the
/// proxy's log tells which fired. A stall holds each request it answers for 3-30 s, or until
/// the round's faults stop, whichever comes first; half of the stalls of an operation that
/// names the user hold only one user's calls. `ids`: (user, Identity Store id), as `USERS`.
pub fn aws_rules(rng: &mut Rng, serial: &mut u32, ids: &[(String, String)]) -> AwsDraw {
    let count = 1 + rng.below(3);
    let mut meets = None;
    let rules: Vec<Value> = (0..count)
        .filter_map(|_| {
            let (operation, answers) = rng.pick(AWS_FAULTS)?;
            let answer = rng.pick(answers)?;
            *serial += 1;
            let mut rule = json!({
                "name": format!("{answer}-{serial}"),
                "operation": operation,
                "answer": answer,
                "times": 1 + rng.below(4),
                "reason": "chaos: injected FAILED status",
            });
            let mut user = None;
            if *answer == "stall" {
                rule["times"] = json!(1 + rng.below(2));
                rule["stall_ms"] = json!(3000 + rng.below(27_001));
                if NAME_THE_USER.contains(operation) && rng.chance(50) {
                    let i = rng.below(USERS.len().min(ids.len()));
                    rule["contains"] = json!(ids[i].1);
                    user = Some(USERS[i]);
                }
            }
            meets.get_or_insert((kind_of(operation), user));
            Some(rule)
        })
        .collect();
    AwsDraw {
        rules: Value::Array(rules),
        meets: meets.unwrap_or((None, None)),
    }
}

/// The policy kind whose grants make `operation` (`None`: both).
fn kind_of(operation: &str) -> Option<Kind> {
    if operation.contains("GroupMembership") {
        Some(Kind::Group)
    } else if operation.contains("AccountAssignment") {
        Some(Kind::Accounts)
    } else {
        None
    }
}

/// What a rule injects, for the log: `stall on CreateGroupMembership (one user's)`.
pub fn describe(rule: &Value) -> String {
    format!(
        "{} on {}{}",
        rule["answer"].as_str().unwrap_or("?"),
        rule["operation"].as_str().unwrap_or("any operation"),
        if rule.get("contains").is_some() {
            " (one user's)"
        } else {
            ""
        }
    )
}

/// The small round's faults: round 1 meets IN_PROGRESS, 2 a FAILED creation and a stalled
/// list, 3 throttling and 4 dropped connections and 5xx, each with a grant of the policy
/// that makes the call.
pub fn smoke_rules(round: u32) -> (Value, Kind) {
    let rule = |name: &str, operation: &str, answer: &str, times: u32| {
        json!({"name": name, "operation": operation, "answer": answer, "times": times,
               "reason": "chaos: injected FAILED status"})
    };
    match round % 4 {
        1 => (
            json!([
                rule(
                    "in_progress-s1",
                    "DescribeAccountAssignmentCreationStatus",
                    "in_progress",
                    3
                ),
                rule(
                    "in_progress-s2",
                    "CreateAccountAssignment",
                    "in_progress",
                    1
                )
            ]),
            Kind::Accounts,
        ),
        2 => {
            let mut stall = rule("stall-s8", "ListAccountAssignments", "stall", 1);
            stall["stall_ms"] = json!(5000);
            (
                json!([
                    rule("failed-s3", "CreateAccountAssignment", "failed", 1),
                    stall
                ]),
                Kind::Accounts,
            )
        }
        3 => (
            json!([
                rule("throttle-s4", "CreateGroupMembership", "throttle", 2),
                rule("throttle-s5", "AssumeRole", "throttle", 1)
            ]),
            Kind::Group,
        ),
        _ => (
            json!([
                rule("drop-s6", "ListGroupMemberships", "drop", 2),
                rule(
                    "server_error-s7",
                    "CreateGroupMembership",
                    "server_error",
                    1
                )
            ]),
            Kind::Group,
        ),
    }
}

/// The answer kind of a rule name (`throttle-12` → `throttle`).
pub fn answer_of(rule: &str) -> &str {
    rule.rsplit_once('-').map(|(a, _)| a).unwrap_or(rule)
}

/// Kills kube-apiserver with SIGKILL and starts it again with the same command line (same
/// port, certificates and etcd, so every object survives); returns when it is ready again.
pub async fn restart_apiserver() -> Result<Duration, Error> {
    let env = |why: String| Error::Env {
        what: "restarting kube-apiserver",
        why,
    };
    let dir = env_dir();
    let pids_path = dir.join("pids");
    let pids = std::fs::read_to_string(&pids_path).map_err(|e| env(e.to_string()))?;
    let pid = pids
        .lines()
        .find_map(|l| l.strip_prefix("kube-apiserver "))
        .map(str::trim)
        .ok_or_else(|| env("no kube-apiserver in the environment's pids".into()))?
        .to_owned();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).map_err(|e| env(e.to_string()))?;
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if argv.is_empty() {
        return Err(env(format!("pid {pid} has no command line")));
    }
    let started = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status();
    let gone = eventually(SOON, || async { exited(&pid).then_some(()) }).await;
    gone.ok_or_else(|| env(format!("pid {pid} still runs after SIGKILL")))?;
    // A multi-threaded process can look gone while its other threads still hold the port.
    let port: u16 = argv
        .iter()
        .position(|a| a == "--secure-port")
        .and_then(|i| argv.get(i + 1))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| env("no --secure-port on its command line".into()))?;
    let free = eventually(SOON, || async {
        std::net::TcpListener::bind(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    })
    .await;
    free.ok_or_else(|| env(format!("port {port} still taken after SIGKILL")))?;
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("logs/kube-apiserver.log"))
        .map_err(|e| env(e.to_string()))?;
    // Its own process group, as `make env-up` starts it: no signal meant for the campaign
    // reaches it.
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|e| env(e.to_string()))?)
        .stderr(log)
        .spawn()
        .map_err(|e| env(format!("starting {}: {e}", argv.join(" "))))?;
    let new_pid = child.id().to_string();
    let rewritten: String = pids
        .lines()
        .map(|l| {
            if l.starts_with("kube-apiserver ") {
                format!("kube-apiserver {new_pid}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&pids_path, rewritten).map_err(|e| env(e.to_string()))?;
    let kubectl = crate::check::Kubectl::new();
    let ready = eventually(Duration::from_secs(90), || async {
        kubectl
            .run(&["get", "--raw", "/readyz"])
            .ok()
            .filter(|out| out.trim() == "ok")
            .map(|_| ())
    })
    .await;
    ready.ok_or_else(|| env("not ready 90 s after it was started again".into()))?;
    Ok(started.elapsed())
}

/// Gone, or a zombie nobody reaped yet (a container's init may never reap it).
fn exited(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// Removes a grant's finalizers and deletes it: what a requester who may patch grants can
/// do. Its access must still be taken back (the operator's ledger and sweep).
pub async fn strip_finalizer(client: &kube::Client, ns: &str, name: &str) -> Result<(), Error> {
    use kube::api::{DeleteParams, Patch, PatchParams};
    let grants = grants_raw(client, ns);
    let kube = |source| Error::Kube {
        what: format!("stripping the finalizer of grant {ns}/{name}"),
        source,
    };
    grants
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .map_err(kube)?;
    match grants.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(kube(e)),
    }
}
