//! What the bench reads from outside the controller: its HTTP endpoints (a minimal
//! HTTP/1.1 client, so a request costs no process spawn), its metrics, its memory from
//! /proc, and the AWS emulator's own record of the calls it served.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{method} http://{addr}{path}: {source}")]
    Io {
        method: &'static str,
        addr: SocketAddr,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{method} http://{addr}{path}: timed out after {0:?}", TIMEOUT)]
    Timeout {
        method: &'static str,
        addr: SocketAddr,
        path: String,
    },
    #[error("{method} http://{addr}{path}: malformed response {head:?}")]
    Malformed {
        method: &'static str,
        addr: SocketAddr,
        path: String,
        head: String,
    },
    #[error("scraping metrics: {0}")]
    Metrics(String),
    #[error("reading /proc/{pid}/status: {source}")]
    Proc {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("moto recorder: {0}")]
    Recorder(String),
}

const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Response {
    pub status: u16,
    pub body: String,
}

/// One request on a fresh connection (`Connection: close`), answered in full.
pub async fn http(
    method: &'static str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, Error> {
    let io = |source| Error::Io {
        method,
        addr,
        path: path.to_owned(),
        source,
    };
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(io)?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.map_err(io)?;
        stream.write_all(body).await.map_err(io)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(io)?;
        Ok(raw)
    };
    let raw = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| Error::Timeout {
            method,
            addr,
            path: path.to_owned(),
        })??;
    let text = String::from_utf8_lossy(&raw);
    let malformed = || Error::Malformed {
        method,
        addr,
        path: path.to_owned(),
        head: text.chars().take(80).collect(),
    };
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(malformed)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Response { status, body })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// The controller's metrics. A failed scrape, or a text without the families the bench reads,
/// is an error: a missing figure must never read as zero.
pub struct Metrics(String);

impl Metrics {
    pub async fn scrape(admin: SocketAddr) -> Result<Self, Error> {
        let r = http("GET", admin, "/metrics", &[], b"")
            .await
            .map_err(|e| Error::Metrics(e.to_string()))?;
        if r.status != 200 {
            return Err(Error::Metrics(format!("/metrics answered {}", r.status)));
        }
        // Families that always have a sample: their absence means this is not a whole scrape
        // of the operator. (A labelled family such as the AWS calls has no lines before its
        // first call: there, absence is a true zero.)
        for family in ["breakglass_reconciles counter", "breakglass_leader gauge"] {
            if !r.body.contains(&format!("# TYPE {family}")) {
                return Err(Error::Metrics(format!(
                    "no `{family}` family in the scrape"
                )));
            }
        }
        if !r.body.trim_end().ends_with("# EOF") {
            return Err(Error::Metrics(
                "the scrape is cut short (no `# EOF`)".into(),
            ));
        }
        Ok(Self(r.body))
    }

    /// Sum of a family's samples, by the value of `label` (all samples when `label` is None).
    fn by_label(&self, family: &str, label: Option<&str>) -> BTreeMap<String, f64> {
        self.fold(family, label, |a, b| a + b)
    }

    /// A family's samples by the value of `label`, combined by `combine`.
    fn fold(
        &self,
        family: &str,
        label: Option<&str>,
        combine: fn(f64, f64) -> f64,
    ) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for line in self.0.lines() {
            let Some(rest) = line.strip_prefix(family) else {
                continue;
            };
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => match r.split_once("} ") {
                    Some(p) => p,
                    None => continue,
                },
                None => match rest.strip_prefix(' ') {
                    Some(v) => ("", v),
                    None => continue,
                },
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            let key = match label {
                None => String::new(),
                Some(l) => labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{l}=\"")))
                    .map(|v| v.trim_end_matches('"').to_owned())
                    .unwrap_or_default(),
            };
            out.entry(key)
                .and_modify(|v| *v = combine(*v, value))
                .or_insert(value);
        }
        out
    }

    /// AWS calls made so far, by operation (every outcome counted: a retry costs a call too).
    pub fn aws_calls(&self) -> BTreeMap<String, f64> {
        self.by_label("breakglass_aws_calls_total", Some("operation"))
    }

    /// AWS calls made so far, by service (`identitystore`, `sso`, `sts`: the API families).
    pub fn aws_calls_by_service(&self) -> BTreeMap<String, f64> {
        self.by_label("breakglass_aws_calls_total", Some("service"))
    }

    /// Each API family's budget rate now (calls/s), the lowest over its accounts.
    pub fn budget_rates(&self) -> BTreeMap<String, f64> {
        self.fold("breakglass_aws_budget_rate", Some("service"), f64::min)
    }

    /// Throttling answers AWS gave so far.
    pub fn throttled(&self) -> f64 {
        self.by_label("breakglass_aws_throttled_total", None)
            .values()
            .sum::<f64>()
            + 0.0
    }

    pub fn reconciles(&self) -> f64 {
        self.by_label("breakglass_reconciles_total", None)
            .values()
            .sum()
    }
}

/// Calls by operation made between two snapshots.
pub fn delta(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0.0)))
        .filter(|(_, n)| *n > 0.0)
        .collect()
}

pub fn total(calls: &BTreeMap<String, f64>) -> f64 {
    // An empty f64 sum is -0.0; a count of nothing is 0.
    calls.values().sum::<f64>() + 0.0
}

/// Resident and peak resident memory of a process, in MiB.
pub fn memory(pid: u32) -> Result<(f64, f64), Error> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|source| Error::Proc { pid, source })?;
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    };
    match (kib("VmRSS:"), kib("VmHWM:")) {
        (Some(rss), Some(hwm)) => Ok((rss / 1024.0, hwm / 1024.0)),
        _ => Err(Error::Proc {
            pid,
            source: std::io::Error::other("no VmRSS/VmHWM"),
        }),
    }
}

/// moto's request recorder (`/moto-api/recorder/*`): what the emulator itself served, by
/// operation, independent of the controller's own counting.
pub struct Recorder {
    pub moto: SocketAddr,
}

impl Recorder {
    async fn call(&self, action: &str) -> Result<String, Error> {
        let path = format!("/moto-api/recorder/{action}");
        let r = http("POST", self.moto, &path, &[], b"")
            .await
            .map_err(|e| Error::Recorder(e.to_string()))?;
        if r.status != 200 {
            return Err(Error::Recorder(format!("{path} answered {}", r.status)));
        }
        Ok(r.body)
    }

    /// Forgets what was recorded and records from now on.
    pub async fn start(&self) -> Result<(), Error> {
        self.call("reset-recording").await?;
        self.call("start-recording").await.map(|_| ())
    }

    /// Stops recording; the calls served since `start`, by operation.
    pub async fn stop(&self) -> Result<BTreeMap<String, f64>, Error> {
        self.call("stop-recording").await?;
        let text = self.call("download-recording").await?;
        let mut calls = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let entry: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| Error::Recorder(format!("unreadable entry: {e}")))?;
            *calls.entry(operation(&entry)).or_default() += 1.0;
        }
        Ok(calls)
    }
}

/// JSON protocols name the operation in `X-Amz-Target` (`AWSIdentityStore.GetUserId`); the
/// query protocol (STS) in the form body's `Action=`.
fn operation(entry: &serde_json::Value) -> String {
    let target = entry["headers"].as_object().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
            .and_then(|(_, v)| v.as_str())
    });
    if let Some(t) = target {
        return t.rsplit('.').next().unwrap_or(t).to_owned();
    }
    let raw = entry["body"].as_str().unwrap_or_default();
    let body = if entry["body_encoded"].as_bool() == Some(true) {
        aws_smithy_types::base64::decode(raw)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    } else {
        raw.to_owned()
    };
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_owned()
}

/// Requests the API server has answered so far, by `verb group/resource`, from its own
/// `apiserver_request_total`. Watches are left out: the server counts one when it ends, not
/// what it streams.
pub async fn api_server_requests(client: &kube::Client) -> Result<BTreeMap<String, f64>, Error> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| Error::Metrics(e.to_string()))?;
    let text = client
        .request_text(request)
        .await
        .map_err(|e| Error::Metrics(format!("the API server's /metrics: {e}")))?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"'))
                .unwrap_or_default()
        };
        if label("verb") == "WATCH" {
            continue;
        }
        let (group, resource) = (label("group"), label("resource"));
        let key = match group {
            "" => format!("{} {resource}", label("verb")),
            g => format!("{} {g}/{resource}", label("verb")),
        };
        *out.entry(key).or_default() += value;
    }
    if out.is_empty() {
        return Err(Error::Metrics(
            "the API server's /metrics has no apiserver_request_total".into(),
        ));
    }
    Ok(out)
}
