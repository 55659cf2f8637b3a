//! Sinks: where findings go. The daemon's findings channel feeds one fan-out task, which gives
//! every sink its own bounded queue and task, so sinks never wait on each other.

pub mod stdout;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::SinkSpec;
use crate::finding::Event;

/// Starts the sinks; the returned task ends when `findings` is closed and every sink is drained.
pub fn spawn(specs: &[SinkSpec], mut findings: mpsc::Receiver<Event>, queue: usize) -> JoinHandle<()> {
    let mut queues = Vec::new();
    let mut tasks = Vec::new();
    for spec in specs {
        let (tx, rx) = mpsc::channel::<Event>(queue.max(1));
        queues.push(tx);
        tasks.push(match spec {
            SinkSpec::Stdout { format } => tokio::spawn(stdout::run(*format, rx)),
        });
    }
    tokio::spawn(async move {
        while let Some(f) = findings.recv().await {
            for q in &queues {
                // Stdout applies back-pressure: a blocked terminal slows the sources down.
                let _ = q.send(f.clone()).await;
            }
        }
        drop(queues);
        for t in tasks {
            let _ = t.await;
        }
    })
}
