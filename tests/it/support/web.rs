//! A scripted customer web app for integration tests: an axum server on 127.0.0.1:0 that
//! answers each path from a list of replies (status, content type, body, optional delay) and
//! records every request in order. It knows nothing about Piston or TwiML.
//!
//! ```ignore
//! let web = WebApp::start().await;
//! web.script("/flow", [Reply::json(r#"{"module":"hangup","data":{}}"#)]);
//! // ... run a call whose pivot_voice_url is web.url("/flow") ...
//! let reqs = web.wait_for_requests(1).await;
//! assert_eq!(reqs[0].method, "GET");
//! assert_eq!(reqs[0].param("To").as_deref(), Some("3004"));
//! ```
//! Unscripted paths answer 404, except `PUT`, which answers 201 (recording uploads).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Wait this long before answering (for timeout tests).
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            content_type: content_type.to_string(),
            body: body.into(),
            headers: Vec::new(),
            delay: None,
        }
    }
    /// 200 `application/json`.
    pub fn json(body: &str) -> Self {
        Self::new(200, "application/json", body)
    }
    /// 200 `text/xml` (TwiML).
    pub fn xml(body: &str) -> Self {
        Self::new(200, "text/xml", body)
    }
    /// A bare status with an empty body.
    pub fn status(status: u16) -> Self {
        Self::new(status, "text/plain", Vec::new())
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    /// `302 Found` to `location`.
    pub fn redirect(location: &str) -> Self {
        Self::status(302).header("location", location)
    }
    /// A reply that takes `d` to come: use it to trigger the server's request timeout.
    pub fn slow(d: Duration) -> Self {
        Self::json("{}").delay(d)
    }
}

/// One request the web app received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`), empty if none.
    pub query: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Decoded query pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }
    /// Decoded `application/x-www-form-urlencoded` body pairs, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// A parameter from the query, else from a form body, else a top-level JSON string.
    pub fn param(&self, name: &str) -> Option<String> {
        let find = |pairs: Vec<(String, String)>| {
            pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
        };
        if let Some(v) = find(self.query_pairs()) {
            return Some(v);
        }
        let ct = self.header("content-type").unwrap_or("");
        if ct.starts_with("application/x-www-form-urlencoded") {
            return find(self.form());
        }
        let v = self.json()?;
        v.get(name).map(|x| match x {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    last: Option<Reply>,
}

struct WebState {
    scripts: Mutex<HashMap<String, Script>>,
    requests: Mutex<Vec<Request>>,
    count: watch::Sender<usize>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running web app; dropping it stops the server.
pub struct WebApp {
    addr: SocketAddr,
    state: Arc<WebState>,
    task: JoinHandle<()>,
    /// How long `wait_for_requests` waits before failing the test.
    pub wait_timeout: Duration,
}

impl Drop for WebApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(st): State<Arc<WebState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = Request {
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_ascii_lowercase(), v)
            })
            .collect(),
        body: body.to_vec(),
    };
    let reply = next_reply(&st, &req);
    {
        let mut reqs = lock(&st.requests);
        reqs.push(req);
        let n = reqs.len();
        st.count.send_replace(n);
    }
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, reply.body).into_response();
    let h = res.headers_mut();
    if let Ok(v) = reply.content_type.parse() {
        h.insert("content-type", v);
    }
    for (n, v) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(n.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            h.insert(n, v);
        }
    }
    res
}

fn next_reply(st: &WebState, req: &Request) -> Reply {
    let mut scripts = lock(&st.scripts);
    if let Some(s) = scripts.get_mut(&req.path) {
        if let Some(r) = s.replies.pop_front() {
            s.last = Some(r.clone());
            return r;
        }
        if let Some(r) = &s.last {
            return r.clone();
        }
    }
    if req.method == "PUT" {
        return Reply::status(201);
    }
    Reply::new(404, "text/plain", "not scripted")
}

impl WebApp {
    /// Starts the web app on 127.0.0.1 with a free port.
    pub async fn start() -> WebApp {
        WebApp::start_on([127, 0, 0, 1]).await
    }

    /// Starts the web app on `ip` (another loopback address such as 127.0.0.2 stands for
    /// another host) with a free port.
    pub async fn start_on(ip: [u8; 4]) -> WebApp {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::from(ip), 0))
            .await
            .expect("bind web app");
        let addr = listener.local_addr().expect("web app addr");
        let (count, _) = watch::channel(0);
        let state = Arc::new(WebState {
            scripts: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            count,
        });
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebApp {
            addr,
            state,
            task,
            wait_timeout: Duration::from_secs(20),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`; `path` starts with `/` and may carry a query.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Replaces the replies for `path` (the path part only, no query). They are served in
    /// order; the last one repeats once the list is used up.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let s = Script {
            replies: replies.into_iter().collect(),
            last: None,
        };
        lock(&self.state.scripts).insert(path.to_string(), s);
    }

    /// Appends one reply to the list for `path`.
    pub fn push(&self, path: &str, reply: Reply) {
        lock(&self.state.scripts)
            .entry(path.to_string())
            .or_default()
            .replies
            .push_back(reply);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state.requests).clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Uploads: every PUT, and every POST whose body is neither a form nor JSON.
    pub fn uploads(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| {
                let ct = r.header("content-type").unwrap_or("");
                r.method == "PUT"
                    || (r.method == "POST"
                        && !ct.starts_with("application/x-www-form-urlencoded")
                        && !ct.contains("json"))
            })
            .collect()
    }

    /// Waits until at least `n` requests arrived and returns all of them; panics after
    /// `wait_timeout`.
    pub async fn wait_for_requests(&self, n: usize) -> Vec<Request> {
        let mut rx = self.state.count.subscribe();
        let ok = tokio::time::timeout(self.wait_timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok());
        match ok {
            true => self.requests(),
            false => panic!(
                "web app: waited for {n} requests, got {}: {:#?}",
                self.requests().len(),
                self.requests()
            ),
        }
    }

    /// A URL nothing listens on (a port bound then released): connecting is refused.
    pub fn refused_url(path: &str) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind for refused url");
        let addr = l.local_addr().expect("refused url addr");
        drop(l);
        format!("http://{addr}{path}")
    }
}
