//! The optional HTTP listener (`--listen 127.0.0.1:9464`): `/metrics` (Prometheus text),
//! `/healthz` (the process is alive and its loops are turning) and `/readyz` (sources opened,
//! sinks not failing beyond budget). Off by default.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::{Telemetry, metrics};

/// A loop that has not turned for this long counts as stuck.
pub const ALIVE_BUDGET: Duration = Duration::from_secs(10);

/// Binds `addr` (so a taken port is an error at start-up) and serves until the process ends.
pub async fn bind(
    addr: SocketAddr,
    telemetry: Arc<Telemetry>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(telemetry);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP listener stopped.");
        }
    }))
}

async fn scrape(axum::extract::State(t): axum::extract::State<Arc<Telemetry>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics::render(&t))
}

async fn healthz(axum::extract::State(t): axum::extract::State<Arc<Telemetry>>) -> impl IntoResponse {
    match t.alive(ALIVE_BUDGET) {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

async fn readyz(axum::extract::State(t): axum::extract::State<Arc<Telemetry>>) -> impl IntoResponse {
    match t.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}
