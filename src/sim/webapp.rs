//! The demo's built-in sample web app: the Pivot voicemail example from the contract
//! (`say` → `record_caller`) on `/voice`, and `PUT /recordings/<name>` to receive the
//! recording. It notes what it serves into the timeline and keeps recordings in memory.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, put};
use axum::Router;
use serde_json::json;
use tokio::task::JoinHandle;

use super::timeline::{Source, Timeline};
use super::SimError;

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
}

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

async fn voice(
    State(st): State<Arc<AppState>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
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
            "{method} /voice (Call-ID {}, From {}, To {}) → 200 application/json: say → record_caller",
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
