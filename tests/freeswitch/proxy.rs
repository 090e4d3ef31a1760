//! A TCP proxy: FreeSWITCH's `socket` connects here and the proxy connects to pivot, copying
//! both directions byte for byte and (when asked) keeping them, so a test can read the
//! commands pivot really sent and `PIVOT_TEST_CAPTURE` can write them in the fixtures/esl
//! format. Either side closing or failing closes the other, like a direct connection would.
//! Also used as a plain forwarder (no recording) to expose the web app on another address.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The bytes of one proxied connection.
#[derive(Clone, Debug, Default)]
pub struct Conn {
    /// What FreeSWITCH sent (events, replies).
    pub fs_sent: Vec<u8>,
    /// What pivot sent (commands).
    pub server_sent: Vec<u8>,
    /// Both directions are over.
    pub closed: bool,
}

type Conns = Arc<Mutex<Vec<Conn>>>;

pub struct Proxy {
    addr: SocketAddr,
    conns: Conns,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(c: &Conns) -> std::sync::MutexGuard<'_, Vec<Conn>> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

impl Proxy {
    /// Listens on `bind` (port 0: any) and forwards each connection to `target`.
    pub async fn start(bind: SocketAddr, target: SocketAddr, record: bool) -> Proxy {
        let listener = TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Conns = Arc::default();
        let shared = conns.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let index = record.then(|| {
                    let mut all = lock(&shared);
                    all.push(Conn::default());
                    all.len() - 1
                });
                tokio::spawn(forward(inbound, target, shared.clone(), index));
            }
        });
        Proxy { addr, conns, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every recorded connection so far, in accept order.
    pub fn conns(&self) -> Vec<Conn> {
        lock(&self.conns).clone()
    }

    /// `dir/<name>.fs-sent.raw` and `.server-sent.raw` (`<name>-2`, ... for later calls).
    pub fn write_captures(&self, dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        for (i, conn) in self.conns().iter().enumerate() {
            let base = match i {
                0 => name.to_string(),
                n => format!("{name}-{}", n + 1),
            };
            std::fs::write(dir.join(format!("{base}.fs-sent.raw")), &conn.fs_sent).unwrap();
            let server = dir.join(format!("{base}.server-sent.raw"));
            std::fs::write(server, &conn.server_sent).unwrap();
        }
    }
}

async fn forward(inbound: TcpStream, target: SocketAddr, conns: Conns, index: Option<usize>) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        return; // pivot is gone: FreeSWITCH sees the connection close, as it would
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (fs_read, fs_write) = inbound.into_split();
    let (pivot_read, pivot_write) = outbound.into_split();
    let record = |fs_side: bool, bytes: &[u8]| {
        if let Some(i) = index {
            let mut all = lock(&conns);
            let conn = &mut all[i];
            match fs_side {
                true => conn.fs_sent.extend_from_slice(bytes),
                false => conn.server_sent.extend_from_slice(bytes),
            }
        }
    };
    let up = pump(fs_read, pivot_write, |b| record(true, b));
    let down = pump(pivot_read, fs_write, |b| record(false, b));
    tokio::pin!(up, down);
    // The side that ends first shuts the other's write half down (a killed pivot closes
    // FreeSWITCH's side at once); what the other still sends is kept for a moment.
    let linger = std::time::Duration::from_secs(2);
    tokio::select! {
        _ = &mut up => { let _ = tokio::time::timeout(linger, &mut down).await; }
        _ = &mut down => { let _ = tokio::time::timeout(linger, &mut up).await; }
    }
    if let Some(i) = index {
        lock(&conns)[i].closed = true;
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    record: impl Fn(&[u8]),
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                record(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
