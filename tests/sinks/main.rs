//! The sinks end to end, with the built binary and real receivers: an HTTP receiver written
//! here (`receiver`).
//!
//! Every wait has a deadline and waits on an event (a request arriving, a journal entry, an
//! alert listed); durations appear only where they are the point (a re-send interval, a
//! window going quiet).

mod harness;
mod receiver;
mod redaction;
mod webhook;
