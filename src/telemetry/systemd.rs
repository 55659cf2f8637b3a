//! systemd's notify protocol (`Type=notify`): READY=1 once sources are open, STATUS= lines,
//! RELOADING=1 with MONOTONIC_USEC on SIGHUP, STOPPING=1 on shutdown, and WATCHDOG=1 — sent only
//! while every source's loop keeps turning, so a stuck matcher or runtime trips `WatchdogSec=`.
//! Without `NOTIFY_SOCKET` every call is a no-op.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, warn};

use super::{StatusLine, Telemetry};

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!(error = %e, "Cannot notify the service manager.");
    }
}

pub fn ready() {
    send(&[NotifyState::Ready]);
}

pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

pub fn status(line: &str) {
    send(&[NotifyState::Status(line)]);
}

/// Sends STATUS= lines every `every`, and, when the service manager asked for a watchdog
/// (`WATCHDOG_USEC`), WATCHDOG=1 every half period while the daemon is alive.
pub async fn keep_alive(telemetry: Arc<Telemetry>, every: Duration) {
    let watchdog = sd_notify::watchdog_enabled();
    let tick = watchdog.map_or(every, |w| (w / 2).min(every)).max(Duration::from_millis(50));
    let mut status = StatusLine::default();
    let mut since_status = Duration::MAX;
    loop {
        if since_status >= every {
            self::status(&status.next(&telemetry));
            since_status = Duration::ZERO;
        }
        if let Some(period) = watchdog {
            match telemetry.alive(period / 2) {
                Ok(()) => send(&[NotifyState::Watchdog]),
                Err(why) => warn!(reason = %why, "Not sending the watchdog keep-alive."),
            }
        }
        tokio::time::sleep(tick).await;
        since_status = since_status.saturating_add(tick);
    }
}
