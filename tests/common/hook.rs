//! The webhook under test: a real controller process serving it, and a real Alertmanager
//! (built from its Go module by `tests/env/alertmanager.sh`, cached) to send to it.

use std::{
    path::PathBuf,
    process::{Child, Command},
    time::{Duration, Instant},
};

use breakglass::api::BreakGlassGrant;
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::{Value, json};

use super::*;

pub fn alertmanager_binary() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_path("tests/env/alertmanager.sh"))
        .output()
        .expect("tests/env/alertmanager.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub struct Alertmanager {
    child: Child,
    pub url: String,
}

impl Alertmanager {
    pub fn start(dir: &std::path::Path, webhook: &str, token_file: &std::path::Path) -> Self {
        let port = free_port();
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                r#"route:
  receiver: breakglass
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: breakglass
    webhook_configs:
      - url: {webhook}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: {token}
"#,
                token = token_file.display()
            ),
        )
        .expect("alertmanager.yml");
        let log = std::fs::File::create(dir.join("alertmanager.log")).expect("log");
        let child = Command::new(alertmanager_binary())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting alertmanager");
        let url = format!("http://127.0.0.1:{port}");
        let am = Self { child, url };
        let start = Instant::now();
        while !get_text(&format!("{}/-/ready", am.url)).contains("OK") {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "alertmanager not ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    /// Injects (or, with `ends_at`, resolves) one alert through Alertmanager's API.
    pub fn alert(&self, labels: Value, starts_at: &str, ends_at: Option<&str>) {
        let mut alert = json!({
            "labels": labels,
            "annotations": {"summary": "Checkout 5xx above 5%"},
            "startsAt": starts_at,
            "generatorURL": "http://prometheus.example.com/graph",
        });
        if let Some(e) = ends_at {
            alert["endsAt"] = json!(e);
        }
        let (code, body) = post_json(
            &format!("{}/api/v2/alerts", self.url),
            None,
            json!([alert]).to_string().as_bytes(),
        );
        assert_eq!(code, 200, "alertmanager refused the alert: {body}");
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Hook {
    pub s: Scenario,
    pub dir: PathBuf,
    pub url: String,
    pub admin: String,
    pub token: String,
    pub token_file: PathBuf,
    pub alertname: String,
    pub controller: ControllerProcess,
}

impl Hook {
    pub async fn new(test: &str) -> Self {
        Self::with_args(test, &[]).await
    }

    /// A scenario whose policy has one alert rule (`alertname`, severity critical|page,
    /// user from `breakglass_user`), and a controller serving the webhook with `args` added.
    pub async fn with_args(test: &str, args: &[&str]) -> Self {
        Self::with_env(test, &[], args).await
    }

    /// As [`Hook::with_args`], the controller started with `env` too.
    pub async fn with_env(test: &str, env: &[(&str, &str)], args: &[&str]) -> Self {
        let s = Scenario::new(test).await;
        let alertname = format!("BreakGlassTest{}", s.ns.replace('-', ""));
        policies_raw(&s.client)
            .patch(
                &s.policy,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"alerts": [{
                    "matchers": [format!("alertname=\"{alertname}\""), "severity=~\"critical|page\""],
                    "userLabel": "breakglass_user",
                    "namespace": s.ns,
                    "duration": "2h",
                }]}})),
            )
            .await
            .expect("policy alerts");
        let dir = repo_path(&format!("target/test-logs/{}-webhook", s.ns));
        std::fs::create_dir_all(&dir).expect("dir");
        let token = format!("tok-{}", s.ns);
        let token_file = dir.join("token");
        std::fs::write(&token_file, format!("{token}\n")).expect("token file");
        let (port, admin_port) = (free_port(), free_port());
        let (webhook_addr, admin_addr) = (
            format!("127.0.0.1:{port}"),
            format!("127.0.0.1:{admin_port}"),
        );
        let token_path = token_file.display().to_string();
        let mut all = vec![
            "--webhook-addr",
            &webhook_addr,
            "--webhook-token-file",
            &token_path,
            "--admin-addr",
            &admin_addr,
        ];
        all.extend_from_slice(args);
        let controller = ControllerProcess::start_with_args(&s.ns, env, &all);
        let url = format!("http://127.0.0.1:{port}/v1/alertmanager");
        let admin = format!("http://127.0.0.1:{admin_port}");
        eventually(SOON, || async {
            get_text(&format!("{admin}/healthz"))
                .contains("ok")
                .then_some(())
        })
        .await
        .expect("controller admin endpoint up");
        Self {
            s,
            dir,
            url,
            admin,
            token,
            token_file,
            alertname,
            controller,
        }
    }

    pub async fn grants(&self) -> Vec<BreakGlassGrant> {
        let api: Api<BreakGlassGrant> = Api::namespaced(self.s.client.clone(), &self.s.ns);
        api.list(&ListParams::default())
            .await
            .expect("grants")
            .items
    }

    pub fn payload(&self, status: &str, alertname: &str) -> Value {
        alert_payload(status, alertname, "00000000000000aa")
    }

    pub fn metrics(&self) -> String {
        get_text(&format!("{}/metrics", self.admin))
    }
}

/// A request written by hand on a raw connection, so a test can hold its body back: the
/// headers (with `Content-Length` of the whole `body`) and the first `sent` bytes of it.
pub fn start_request(url: &str, token: &str, body: &[u8], sent: usize) -> std::net::TcpStream {
    use std::io::Write;
    let rest = url.strip_prefix("http://").expect("an http:// url");
    let (addr, path) = rest.split_once('/').expect("a path");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the webhook");
    let head = format!(
        "POST /{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("headers");
    stream.write_all(&body[..sent]).expect("body start");
    stream.flush().expect("flush");
    stream
}

/// Reads the answer to a [`start_request`]: status code and body. Fails the test if none
/// comes within a minute (a server waiting for a body it should not need).
pub fn read_answer(stream: &mut std::net::TcpStream) -> (u16, String) {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let mut buf = vec![];
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
            }
            Err(e) => panic!(
                "no answer: {e}; got so far: {}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}
