//! faultline: tells operators *why* something failed, the moment the evidence shows up in a log.
//!
//! Data flows one way, and the modules follow it:
//!
//! ```text
//! source → frame → normalize → matcher → engine (score) → render / sink
//! ```
//!
//! * [`frame`] turns byte chunks into numbered lines (CR/LF/CRLF, max line length).
//! * [`normalize`] gives each line the canonical form patterns are matched against.
//! * [`matcher`] is a pure multi-pattern matcher (Aho-Corasick + prefiltered regexes).
//! * [`playbook`] loads and validates playbooks; [`engine`] compiles them into a [`engine::Catalog`]
//!   and scores them Faultline's way.
//! * [`analyze`] is the batch driver (read a log, rank playbooks); [`render`] prints results.
//!
//! `ARCHITECTURE.md` has the full map and the invariants.

pub mod analyze;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod correlate;
pub mod daemon;
pub mod decode;
pub mod diagnostic;
pub mod duration;
pub mod engine;
pub mod exit;
pub mod finding;
pub mod frame;
pub mod matcher;
pub mod normalize;
pub mod playbook;
pub mod redact;
pub mod render;
pub mod sink;
pub mod source;
pub mod stream;
pub mod telemetry;
