//! The stdout sink: one readable block per finding (`text`) or one JSON object per line
//! (`json`, schema `faultline.finding/v1`). Findings are data, not logs: they never go through
//! the daemon's own log (stderr).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tracing::warn;

use super::SinkStats;
use crate::config::OutputFormat;
use crate::finding::Event;

pub async fn run(format: OutputFormat, mut rx: mpsc::Receiver<Arc<Event>>, stats: Arc<SinkStats>) {
    let mut out = tokio::io::stdout();
    while let Some(event) = rx.recv().await {
        stats.queued.fetch_sub(1, Ordering::Relaxed);
        // Activity news is for sinks that keep alerts alive; stdout shows findings only.
        let Event::Finding(f) = &*event else { continue };
        let mut text = match format {
            OutputFormat::Json => f.to_json(),
            OutputFormat::Text => f.to_text(),
        };
        text.push('\n');
        if let Err(e) = async {
            out.write_all(text.as_bytes()).await?;
            out.flush().await
        }
        .await
        {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                warn!(error = %e, "Cannot write to stdout.");
            }
            SinkStats::add(&stats.failed, 1);
            // Keep draining so sources never block on a dead stdout.
        } else {
            SinkStats::add(&stats.sent, 1);
        }
    }
}
