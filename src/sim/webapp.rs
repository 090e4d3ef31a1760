//! The demo's built-in sample web app: the Pivot voicemail example from the contract
//! (`say` → `record_caller`) on `/voice`, and `PUT /recordings/<name>` to receive the
//! recording. It notes what it serves into the timeline and keeps recordings in memory.
//! It verifies `X-Pivot-Signature` on `/voice` with its own random secret (the demo gives
//! pivot the same one), as a real web app should.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, put};
use axum::Router;
use serde_json::json;
use tokio::task::JoinHandle;

use super::timeline::{Source, Timeline};
use super::SimError;
use crate::pivot::sign;
use std::time::SystemTime;

/// A recording the web app received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub name: String,
    pub bytes: usize,
    pub content_type: String,
}

struct AppState {
    timeline: Timeline,
    base: String,
    recordings: Mutex<Vec<Recording>>,
    secret: String,
}

/// How far a signature's timestamp may be from now.
const SIGNATURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// The running sample app; dropping it stops the server.
pub(super) struct SampleApp {
    state: Arc<AppState>,
    task: JoinHandle<()>,
}

impl Drop for SampleApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SampleApp {
    pub async fn start(timeline: &Timeline) -> Result<SampleApp, SimError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| SimError::WebApp(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| SimError::WebApp(e.to_string()))?;
        let state = Arc::new(AppState {
            timeline: timeline.clone(),
            base: format!("http://{addr}"),
            recordings: Mutex::new(Vec::new()),
            secret: format!("demo-{}", uuid::Uuid::new_v4().simple()),
        });
        let routes = Router::new()
            .route("/voice", any(voice))
            .route("/recordings/:name", put(recording))
            .fallback(not_found)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });
        Ok(SampleApp { state, task })
    }

    pub fn voice_url(&self) -> String {
        format!("{}/voice", self.state.base)
    }

    /// The secret it verifies signatures with (pivot's `[signing]` for the demo account).
    pub fn signing_secret(&self) -> String {
        self.state.secret.clone()
    }

    pub fn recordings(&self) -> Vec<Recording> {
        self.state
            .recordings
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

/// The voicemail flow: a greeting, then the caller's message, uploaded here.
fn voicemail(base: &str) -> serde_json::Value {
    json!({
        "module": "say",
        "data": {"text": "Hello, you reached the pivot demo. Please leave a message after the beep."},
        "children": {
            "_": {
                "module": "record_caller",
                "data": {"url": format!("{base}/recordings"), "format": "mp3", "time_limit": 60}
            }
        }
    })
}

/// `signature verified`, or why not; the URL is rebuilt from this app's own address.
fn check_signature(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> String {
    let Some(header) = headers.get(sign::HEADER).and_then(|v| v.to_str().ok()) else {
        return "unsigned".into();
    };
    let url = format!("{}{uri}", st.base);
    let request = (method.as_str(), url.as_str(), body);
    match sign::verify(
        header,
        &[&st.secret],
        request,
        SystemTime::now(),
        SIGNATURE_WINDOW,
    ) {
        Ok(()) => "signature verified".into(),
        Err(e) => format!("signature refused: {e}"),
    }
}

async fn voice(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let signature = check_signature(&st, &method, &uri, &headers, &body);
    if signature.starts_with("signature refused") {
        st.timeline.note(
            Source::WebApp,
            &format!("{method} /voice: {signature} → 403"),
        );
        return StatusCode::FORBIDDEN.into_response();
    }
    // GET sends the parameters in the query, POST in a form body.
    let params = match &query {
        Some(q) if method == Method::GET => q.as_bytes().to_vec(),
        _ => body.to_vec(),
    };
    let get = |name: &str| {
        form_urlencoded::parse(&params)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let body = voicemail(&st.base).to_string();
    st.timeline.note(
        Source::WebApp,
        &format!(
            "{method} /voice (Call-ID {}, From {}, To {}, {signature}) → 200 application/json: say → record_caller",
            get("Call-ID"),
            get("From"),
            get("To")
        ),
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn recording(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_string();
    st.timeline.note(
        Source::WebApp,
        &format!(
            "PUT /recordings/{name}: {} bytes of {content_type} → 201, kept in memory",
            body.len()
        ),
    );
    if let Ok(mut recs) = st.recordings.lock() {
        recs.push(Recording {
            name,
            bytes: body.len(),
            content_type,
        });
    }
    StatusCode::CREATED
}

async fn not_found(State(st): State<Arc<AppState>>, method: Method) -> StatusCode {
    st.timeline.note(
        Source::WebApp,
        &format!("{method} to an unknown path → 404"),
    );
    StatusCode::NOT_FOUND
}
