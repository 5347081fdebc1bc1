//! A fault-injecting proxy in front of moto: mitmproxy in reverse mode with
//! `tests/env/faults.py`, answering what moto cannot (refused roles, throttling, dropped
//! connections). Each test starts its own, so rules never leak between tests.

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;
use serde_json::Value;

use super::{SOON, eventually, free_port, repo_path, setting};

pub struct FaultProxy {
    child: std::process::Child,
    /// Where the controller should reach AWS: put it in `AWS_ENDPOINT_URL`.
    pub url: String,
    rules: PathBuf,
}

/// One request as the proxy saw it.
#[derive(Debug, Deserialize)]
pub struct Seen {
    pub operation: String,
    /// The rule that answered it instead of moto.
    pub fault: Option<String>,
    /// The session (RoleSessionName) whose credentials signed it: what CloudTrail shows.
    pub session: Option<String>,
}

impl FaultProxy {
    /// Starts with `rules` (a JSON list, see faults.py) and waits until it accepts.
    pub async fn start(name: &str, rules: Value) -> Self {
        let dir = repo_path("target/test-logs");
        std::fs::create_dir_all(&dir).expect("log dir");
        let rules_path = dir.join(format!("faults-{name}.json"));
        let _ = std::fs::remove_file(rules_path.with_extension("json.log"));
        let proxy = |child, url| Self {
            child,
            url,
            rules: rules_path.clone(),
        };
        let out = std::process::Command::new("bash")
            .arg(repo_path("tests/env/mitmproxy.sh"))
            .output()
            .expect("running tests/env/mitmproxy.sh");
        assert!(out.status.success(), "installing mitmproxy failed");
        let mitmdump = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let port = free_port();
        let log = std::fs::File::create(dir.join(format!("faults-{name}.out"))).expect("log");
        let child = std::process::Command::new(mitmdump)
            .args([
                "--mode",
                &format!("reverse:{}", setting("AWS_ENDPOINT_URL")),
            ])
            .args([
                "--listen-host",
                "127.0.0.1",
                "--listen-port",
                &port.to_string(),
            ])
            .arg("-s")
            .arg(repo_path("tests/env/faults.py"))
            .args(["--set", &format!("faults={}", rules_path.display())])
            .arg("-q")
            // mitmproxy keeps its CA under $HOME; give each test its own.
            .args([
                "--set",
                &format!("confdir={}", dir.join(format!("mitm-{name}")).display()),
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting mitmdump");
        let started = proxy(child, format!("http://127.0.0.1:{port}"));
        started.set(rules);
        eventually(SOON, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await
        .expect("the fault proxy accepts connections");
        started
    }

    /// Replaces the rules (atomically; the proxy re-reads them on its next request).
    pub fn set(&self, rules: Value) {
        let tmp = self.rules.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&rules).expect("rules")).expect("rules file");
        std::fs::rename(&tmp, &self.rules).expect("rules file");
        // mtime granularity: a rewrite within the same tick must still be seen as new.
        std::thread::sleep(Duration::from_millis(20));
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        std::fs::read_to_string(self.rules.with_extension("json.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until `rule` has answered a request (the fault really fired).
    pub async fn wait_fired(&self, rule: &str) {
        eventually(SOON, || async { (self.fired(rule) >= 1).then_some(()) })
            .await
            .unwrap_or_else(|| panic!("{rule} met no request: {:?}", self.seen()));
    }

    /// How many requests `rule` answered.
    pub fn fired(&self, rule: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.fault.as_deref() == Some(rule))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
