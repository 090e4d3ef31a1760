//! The load test's web app: the comparison flow ("fetch a flow, play a 200 ms tone, hang
//! up") as Piston JSON for pivot (`/loadtest/piston`) and as a mod_httapi document
//! (`/loadtest/httapi`), so both sides of a comparison ask a web app for the same thing.

use std::net::SocketAddr;

use axum::http::header::CONTENT_TYPE;
use axum::routing::any;
use axum::Router;

use super::LoadError;

/// The tone both flows play.
pub const TONE: &str = "tone_stream://%(200,0,440)";

/// Stops serving when dropped.
pub struct Served(tokio::task::JoinHandle<()>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn piston() -> String {
    serde_json::json!({"module": "play", "data": {"id": TONE}}).to_string()
}

fn httapi() -> String {
    format!(
        "<document type=\"xml/freeswitch-httapi\"><work><playback file=\"{TONE}\"/><hangup/></work></document>"
    )
}

pub async fn serve(addr: SocketAddr) -> Result<Served, LoadError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| LoadError::WebApp { addr, source })?;
    let app = Router::new()
        .route(
            "/loadtest/piston",
            any(|| async { ([(CONTENT_TYPE, "application/json")], piston()) }),
        )
        .route(
            "/loadtest/httapi",
            any(|| async { ([(CONTENT_TYPE, "text/xml")], httapi()) }),
        );
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the load test's web app stopped");
        }
    });
    Ok(Served(task))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::callflow::FlowLimits;
    use crate::pivot::piston::parse_piston;

    #[test]
    fn the_piston_flow_is_valid_and_plays_the_tone() {
        let flow = parse_piston(piston().as_bytes(), &FlowLimits::default()).unwrap();
        assert_eq!(flow.module.name(), "play");
        assert!(httapi().contains(TONE));
    }
}
