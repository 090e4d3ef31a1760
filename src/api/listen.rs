//! Serving the API on a TCP listener with bounds an attacking client cannot get around:
//! a cap on open connections (process-wide and per source address), a deadline for the
//! request head, an idle deadline and a hard one after it, and one request per connection
//! (`Connection: close`), so every connection's life is bounded. At the cap, the oldest
//! connection still sending its head is closed to make room, so a flood of idle sockets
//! cannot lock out a load balancer's `/health` or an operator. The API then shares the
//! process's file descriptors with calls only up to `[api] max_connections`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use bytes::{Buf, BytesMut};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::head::{self, HeadError};
use super::limit::address_key;

/// The bounds on API connections (`[api]` keys of the same names).
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub max_per_address: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub open: AtomicU64,
    pub accepted: AtomicU64,
    /// Closed at once: the source address was at its cap, or everything was busy.
    pub refused: AtomicU64,
    /// Closed while sending its head, to make room for a newer connection.
    pub evicted: AtomicU64,
    /// Closed by a deadline (head, idle or request).
    pub timed_out: AtomicU64,
    /// Answered 400/414/431 before routing.
    pub bad_heads: AtomicU64,
}

/// The peer's address, in every request's extensions (the login rate limit reads it).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `router` until `stop` fires; then stops accepting, closes connections still
/// sending their head, and waits up to `request_timeout` for the others to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    stats: Arc<ConnStats>,
    stop: CancellationToken,
) {
    let table = Arc::new(Table::new(limits.clone()));
    let tracker = TaskTracker::new();
    let mut warn = super::WarnLimiter::default();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                if let Some(suppressed) = warn.due() {
                    tracing::warn!(error = %e, suppressed, "API accept failed");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = table.admit(peer.ip(), &stats) else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = warn.due() {
                tracing::warn!(%peer, suppressed, "API connection refused: too many connections");
            }
            continue;
        };
        let conn = Connection {
            router: router.clone(),
            limits: limits.clone(),
            stats: stats.clone(),
        };
        tracker.spawn(conn.run(stream, peer, slot));
    }
    drop(listener);
    tracker.close();
    table.evict_pending();
    let grace = limits.request_timeout + Duration::from_secs(1);
    let _ = tokio::time::timeout(grace, tracker.wait()).await;
}

struct Connection {
    router: Router,
    limits: ConnLimits,
    stats: Arc<ConnStats>,
}

impl Connection {
    async fn run(self, mut stream: TcpStream, peer: SocketAddr, slot: Slot) {
        let _ = stream.set_nodelay(true);
        let read = tokio::time::timeout(self.limits.header_timeout, head::read_head(&mut stream));
        let head = tokio::select! {
            _ = slot.evict.cancelled() => {
                self.stats.evicted.fetch_add(1, Ordering::Relaxed);
                return;
            }
            head = read => head,
        };
        let buffered = match head {
            Ok(Ok(buf)) => buf,
            Ok(Err(HeadError::Closed)) => return,
            Ok(Err(e)) => {
                self.stats.bad_heads.fetch_add(1, Ordering::Relaxed);
                return head::reject(&mut stream, &e).await;
            }
            Err(_) => {
                self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                return head::reject(&mut stream, &HeadError::Timeout).await;
            }
        };
        slot.head_done();
        self.serve(stream, buffered, peer).await;
    }

    /// Hands the connection (with the bytes already read) to hyper for one request.
    async fn serve(self, stream: TcpStream, buffered: BytesMut, peer: SocketAddr) {
        let activity = Arc::new(Activity::new());
        let io = Tracked {
            prefix: buffered,
            inner: stream,
            activity: activity.clone(),
        };
        let router = self.router;
        let busy = activity.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(PeerAddr(peer));
            let mut router = router.clone();
            let busy = busy.clone();
            async move {
                busy.busy.store(true, Ordering::Relaxed);
                let resp = router.call(req).await;
                busy.busy.store(false, Ordering::Relaxed);
                busy.touch();
                resp
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(false)
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(io), service);
        // The handler has `request_timeout` (and answers 408); sending the answer gets the
        // same again at most.
        let hard = self.limits.request_timeout * 2;
        tokio::select! {
            _ = conn => {}
            _ = activity.idle(self.limits.idle_timeout) => {
                self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
            }
            _ = tokio::time::sleep(hard) => {
                self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// When the connection last moved a byte, and whether a request is being handled (a slow
/// handler is not an idle peer).
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
    busy: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Returns once nothing moved for `limit` while no request was being handled.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline && !self.busy.load(Ordering::Relaxed) {
                return;
            }
            let wake = if Instant::now() >= deadline {
                Instant::now() + limit
            } else {
                deadline
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// The socket, after the bytes the head reader took, noting every byte that moves.
struct Tracked {
    prefix: BytesMut,
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Who is connected: counts per address, and the connections still sending their head
/// (oldest first), which may be closed to make room.
struct Table {
    limits: ConnLimits,
    inner: Mutex<TableInner>,
}

#[derive(Default)]
struct TableInner {
    open: usize,
    per_address: HashMap<IpAddr, usize>,
    pending: BTreeMap<u64, CancellationToken>,
    next_id: u64,
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    table: Arc<Table>,
    id: u64,
    key: IpAddr,
    evict: CancellationToken,
    stats: Arc<ConnStats>,
}

impl Table {
    fn new(limits: ConnLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(TableInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TableInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a connection from `ip`, or None (close it at once).
    fn admit(self: &Arc<Self>, ip: IpAddr, stats: &Arc<ConnStats>) -> Option<Slot> {
        let key = address_key(ip);
        let mut t = self.lock();
        if t.per_address.get(&key).copied().unwrap_or(0) >= self.limits.max_per_address {
            return None;
        }
        if t.open >= self.limits.max_connections {
            // The evicted connection closes right away; until it has, one more is open.
            let (_, oldest) = t.pending.pop_first()?;
            oldest.cancel();
        }
        t.open += 1;
        *t.per_address.entry(key).or_default() += 1;
        let id = t.next_id;
        t.next_id += 1;
        let evict = CancellationToken::new();
        t.pending.insert(id, evict.clone());
        stats.open.store(t.open as u64, Ordering::Relaxed);
        Some(Slot {
            table: self.clone(),
            id,
            key,
            evict,
            stats: stats.clone(),
        })
    }

    fn evict_pending(&self) {
        let mut t = self.lock();
        for (_, token) in std::mem::take(&mut t.pending) {
            token.cancel();
        }
    }
}

impl Slot {
    /// The head is in: this connection is no longer the one to close for room.
    fn head_done(&self) {
        self.table.lock().pending.remove(&self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.table.lock();
        t.pending.remove(&self.id);
        t.open = t.open.saturating_sub(1);
        if let Some(n) = t.per_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                t.per_address.remove(&self.key);
            }
        }
        self.stats.open.store(t.open as u64, Ordering::Relaxed);
    }
}
