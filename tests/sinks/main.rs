//! The sinks end to end, with the built binary and real receivers: an HTTP receiver written
//! here (`receiver`), a real systemd-journald isolated in its own mount namespace
//! (`scripts/services/journald.sh`, started by `scripts/test.sh`), and a real Alertmanager
//! (Debian's `prometheus-alertmanager`, provided by `scripts/services/alertmanager.sh`).
//!
//! Every wait has a deadline and waits on an event (a request arriving, a journal entry, an
//! alert listed); durations appear only where they are the point (a re-send interval, a
//! window going quiet).

#[path = "../common/mod.rs"]
mod common;

mod alertmanager;
mod journal;
mod receiver;
mod redaction;
mod webhook;
