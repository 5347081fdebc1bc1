//! HTTP/1.1 serving shared by the webhook and the admin endpoint, so that a slow or idle
//! client cannot hold a connection (its memory and file descriptor) for long:
//!
//! - at most `max_connections` are open at once. The slot is taken before `accept`, so
//!   beyond the cap new connections wait in the listen backlog (the kernel completes their
//!   handshake) and are served as soon as an open one closes; nothing is refused.
//! - the request head must arrive within `header_timeout`, counted from when the server
//!   starts waiting for it: the connection opened (after the TLS handshake, itself bounded
//!   by the same timeout) or the previous answer was sent. So a kept-alive connection
//!   between requests is closed after `header_timeout` too.
//! - a connection on which no byte moves either way for `idle_timeout` while no request is
//!   being handled is closed: a client that stops reading its answer.
//!
//! HTTP/2 is not served (TLS offers only `http/1.1`): hyper's header timeout is HTTP/1's.

use std::{
    convert::Infallible,
    io,
    pin::{Pin, pin},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, extract::Request};
use hyper::{body::Incoming, server::conn::http1, service::Service as _};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use rustls::ServerConfig;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    time::Instant,
};
use tracing::{debug, warn};

/// Largest read (or write) buffer of one connection; hyper's default is about 400 KiB.
/// Request heads are far smaller, and bodies are read in chunks.
const MAX_BUF: usize = 64 * 1024;

/// How long a server keeps a connection that does not make progress, and how many it keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

/// A TLS configuration that can be replaced while serving (a renewed certificate); each new
/// connection uses the current one.
#[derive(Clone)]
pub struct Tls(Arc<RwLock<Arc<ServerConfig>>>);

impl Tls {
    pub fn new(config: ServerConfig) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(config))))
    }

    pub fn replace(&self, config: ServerConfig) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    fn current(&self) -> Arc<ServerConfig> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Serves `router` on `listener` for as long as the process runs: accept errors (too many
/// open files, a connection reset before it was accepted) are logged and waited out.
pub async fn run(
    listener: TcpListener,
    router: Router,
    tls: Option<Tls>,
    limits: Limits,
) -> Infallible {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            unreachable!("the semaphore is never closed");
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let (router, tls) = (router.clone(), tls.clone());
        tokio::spawn(async move {
            connection(stream, router, tls, limits).await;
            drop(slot);
        });
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn connection(stream: TcpStream, router: Router, tls: Option<Tls>, limits: Limits) {
    // Answers are written whole; Nagle would only delay them.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = Watched {
        io: stream,
        activity: activity.clone(),
    };
    match tls {
        None => http(io, router, activity, limits).await,
        Some(tls) => {
            let accept = tokio_rustls::TlsAcceptor::from(tls.current()).accept(io);
            match tokio::time::timeout(limits.header_timeout, accept).await {
                Ok(Ok(io)) => http(io, router, activity, limits).await,
                Ok(Err(e)) => debug!(error = %e, "TLS handshake failed"),
                Err(_) => debug!("TLS handshake not finished within the header timeout"),
            }
        }
    }
}

async fn http<I>(io: I, router: Router, activity: Arc<Activity>, limits: Limits)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let inner = TowerToHyperService::new(router.into_service::<Incoming>());
    let handling = activity.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let busy = handling.busy();
        let answer = inner.call(request);
        async move {
            let answer = answer.await;
            drop(busy);
            answer
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_BUF);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(io), service));
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    debug!(error = %e, "connection closed");
                }
                return;
            }
            () = tokio::time::sleep_until(activity.next_check(limits.idle_timeout)) => {
                if activity.is_idle(limits.idle_timeout) {
                    // Nothing is being handled: dropping the connection loses no answer.
                    debug!(idle = ?limits.idle_timeout, "idle connection closed");
                    return;
                }
            }
        }
    }
}

/// When bytes last moved on a connection, and how many of its requests are being handled.
struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
    handling: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            handling: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    fn busy(self: &Arc<Self>) -> Busy {
        self.handling.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn is_idle(&self, idle: Duration) -> bool {
        self.handling.load(Ordering::Relaxed) == 0 && self.last().elapsed() >= idle
    }

    fn next_check(&self, idle: Duration) -> Instant {
        if self.handling.load(Ordering::Relaxed) > 0 {
            // A handler has its own deadline; look again later.
            Instant::now() + idle
        } else {
            self.last() + idle
        }
    }
}

/// A request being handled; idle time counts from when the last one finished.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.handling.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that records when bytes move on it.
struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use axum::routing::get;

    use super::*;

    const BIG: usize = 32 * 1024 * 1024;

    /// Serves a small router on a free port: `/big` answers more than socket buffers hold,
    /// `/slow` takes a second.
    async fn server(limits: Limits) -> std::net::SocketAddr {
        let router = Router::new()
            .route("/big", get(|| async { vec![b'x'; BIG] }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    "done"
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(run(listener, router, None, limits));
        addr
    }

    /// Sends one GET, waits `pause` before reading, then reads until the server closes
    /// (or 20 s pass): the bytes received.
    fn get_after(addr: std::net::SocketAddr, path: &str, pause: Duration) -> Vec<u8> {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        std::thread::sleep(pause);
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut got = vec![];
        let _ = stream.read_to_end(&mut got);
        got
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_stops_reading_is_cut_off_after_the_idle_timeout() {
        let idle = Duration::from_millis(300);
        let addr = server(Limits {
            idle_timeout: idle,
            ..Limits::default()
        })
        .await;
        let got = tokio::task::spawn_blocking(move || get_after(addr, "/big", idle * 10))
            .await
            .expect("client");
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&got[..got.len().min(80)])
        );
        assert!(
            got.len() < BIG,
            "the whole answer was written to a client that did not read"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_slower_than_the_idle_timeout_still_answers() {
        let addr = server(Limits {
            idle_timeout: Duration::from_millis(200),
            ..Limits::default()
        })
        .await;
        let got = tokio::task::spawn_blocking(move || get_after(addr, "/slow", Duration::ZERO))
            .await
            .expect("client");
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with("done"),
            "{text}"
        );
    }
}
