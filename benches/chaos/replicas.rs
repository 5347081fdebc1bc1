//! Two controller replicas competing for one Lease, each serving the webhook, with AWS
//! reached through the campaign's fault proxy. A replica may be started parked at a
//! failpoint; the campaign SIGKILLs it there. Each AWS call attempt has a short deadline
//! (`--aws-timeout`), so a stalled request is cut by the operator, not by the proxy.

use crate::common::*;

const LEASE_SECONDS: &str = "6";
/// The controllers' deadline of one AWS call attempt: well under the stalls' 3-30 s.
const AWS_TIMEOUT: &str = "2s";

pub struct Replica {
    pub identity: String,
    pub admin: String,
    pub webhook: String,
    process: Option<ControllerProcess>,
    pub failpoint: Option<&'static str>,
    starts: u32,
}

pub struct Replicas {
    pub list: Vec<Replica>,
    ns: String,
    lease: String,
    aws: String,
    token_file: std::path::PathBuf,
    pub token: String,
    /// `--aws-timeout` as passed; `None` when the binary has no such flag.
    pub aws_timeout: Option<&'static str>,
}

/// Whether `breakglass controller` takes `--aws-timeout` (a binary from before it existed
/// runs without it: its AWS calls then wait for the proxy to let a stall go).
fn takes_aws_timeout() -> bool {
    std::process::Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["controller", "--help"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("--aws-timeout"))
}

impl Replicas {
    pub fn new(ns: &str, aws_endpoint: &str) -> Self {
        let dir = repo_path("target/chaos");
        let _ = std::fs::create_dir_all(&dir);
        let token = format!("chaos-{ns}");
        let token_file = dir.join(format!("token-{ns}"));
        std::fs::write(&token_file, &token).expect("webhook token file");
        let list = ["chaos-a", "chaos-b"]
            .into_iter()
            .map(|identity| Replica {
                identity: identity.to_owned(),
                admin: String::new(),
                webhook: String::new(),
                process: None,
                failpoint: None,
                starts: 0,
            })
            .collect();
        let mut r = Self {
            list,
            ns: ns.to_owned(),
            lease: unique_name("chaos-lease", ns),
            aws: aws_endpoint.to_owned(),
            token_file,
            token,
            aws_timeout: takes_aws_timeout().then_some(AWS_TIMEOUT),
        };
        for i in 0..r.list.len() {
            r.start(i, None);
        }
        r
    }

    /// (Re)starts replica `i` on fresh ports, optionally parked at `failpoint`.
    pub fn start(&mut self, i: usize, failpoint: Option<&'static str>) {
        let (admin_port, webhook_port) = (free_port(), free_port());
        let r = &mut self.list[i];
        r.starts += 1;
        r.failpoint = failpoint;
        r.admin = format!("http://127.0.0.1:{admin_port}");
        r.webhook = format!("http://127.0.0.1:{webhook_port}/v1/alertmanager");
        let mut env = vec![("AWS_ENDPOINT_URL", self.aws.as_str())];
        if let Some(f) = failpoint {
            env.push(("BREAKGLASS_FAILPOINT", f));
        }
        let log = format!("chaos-{}-{}-{}", self.ns, r.identity, r.starts);
        let token_file = self.token_file.display().to_string();
        let (admin_addr, webhook_addr) = (
            format!("127.0.0.1:{admin_port}"),
            format!("127.0.0.1:{webhook_port}"),
        );
        let mut args = vec![
            "--leader-elect",
            "--lease-name",
            &self.lease,
            "--lease-namespace",
            &self.ns,
            "--lease-identity",
            &r.identity,
            "--lease-duration",
            LEASE_SECONDS,
            "--lease-grace",
            "2",
            "--admin-addr",
            &admin_addr,
            "--webhook-addr",
            &webhook_addr,
            "--webhook-token-file",
            &token_file,
        ];
        if let Some(t) = self.aws_timeout {
            args.extend(["--aws-timeout", t]);
        }
        r.process = Some(ControllerProcess::start_logged(&self.ns, &log, &env, &args));
    }

    /// SIGKILL replica `i`: no shutdown path runs, the Lease is left to expire.
    pub fn kill(&mut self, i: usize) {
        if let Some(p) = self.list[i].process.take() {
            p.kill();
        }
    }

    /// The replica that `breakglass_leader` says leads, if one answers.
    pub fn leader(&self) -> Option<usize> {
        self.list.iter().position(|r| {
            try_metric(
                &get_text(&format!("{}/metrics", r.admin)),
                "breakglass_leader",
            ) == Some(1.0)
        })
    }

    /// Replicas parked at their failpoint: SIGKILLed and started again without one.
    /// Returns how many.
    pub fn kill_parked(&mut self) -> u32 {
        let mut killed = 0;
        for i in 0..self.list.len() {
            let parked = self.list[i].failpoint.is_some()
                && self.list[i]
                    .process
                    .as_ref()
                    .is_some_and(|p| p.log_text().contains("failpoint reached"));
            if parked {
                self.kill(i);
                self.start(i, None);
                killed += 1;
            }
        }
        killed
    }

    /// A replica's webhook, for alerts (any replica serves it; the leader need not).
    pub fn webhook(&self, i: usize) -> &str {
        &self.list[i % self.list.len()].webhook
    }
}
