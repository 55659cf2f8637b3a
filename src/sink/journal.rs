//! The systemd journal sink: one structured entry per finding, in journald's native protocol
//! over its unix datagram socket (no libsystemd).
//!
//! Fields: `MESSAGE` (one line: title, stream, confidence), `PRIORITY` from the severity
//! (critical 2, high 3, medium 4, low 5), `SYSLOG_IDENTIFIER=faultline`, `MESSAGE_ID` (the same
//! for every finding, so `journalctl MESSAGE_ID=…` lists them all), and `FAULTLINE_PLAYBOOK`,
//! `FAULTLINE_CATEGORY`, `FAULTLINE_SEVERITY`, `FAULTLINE_CONFIDENCE`, `FAULTLINE_STREAM`,
//! `FAULTLINE_STREAM_KIND`, `FAULTLINE_HOST`, `FAULTLINE_FINDING_ID`, `FAULTLINE_EVIDENCE` (the
//! evidence lines, one per line), `FAULTLINE_FIX` (the fix steps, numbered, one per line).
//! Values with a newline use the protocol's binary-safe form (`KEY\n<u64 LE length><bytes>\n`).
//!
//! An entry too large for one datagram (`EMSGSIZE`) goes into a sealed memfd passed with
//! `SCM_RIGHTS`, as journald expects.

use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use tracing::{debug, info, warn};

use super::SinkStats;
use super::http::Backoff;
use super::spool::Spool;
use crate::config::Delivery;
use crate::finding::{Event, Finding};

/// `MESSAGE_ID` of every faultline finding.
pub const MESSAGE_ID: &str = "6d1f5a4bb1f34f0d9f0a2e7c3c8e4b15";

/// Fails (one line naming the path) unless `socket` is a unix socket.
pub fn check_socket(socket: &Path) -> Result<()> {
    match std::fs::metadata(socket) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        Ok(_) => bail!(
            "journal socket {} is not a socket (set --journal-socket or the journal sink's `socket`)",
            socket.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "journal socket {} does not exist: is systemd-journald running? (set --journal-socket or the journal sink's `socket`)",
            socket.display()
        ),
        Err(e) => bail!("journal socket {}: {e}", socket.display()),
    }
}

/// Journal priority of a severity.
pub fn priority(severity: &str) -> u8 {
    match severity {
        "critical" => 2,
        "high" => 3,
        "medium" => 4,
        _ => 5,
    }
}

fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    if value.contains('\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value.as_bytes());
    } else {
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'\n');
}

/// One line, whatever the input.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The native-protocol entry of a finding.
pub fn entry(f: &Finding) -> Vec<u8> {
    let stream = f.stream.path.as_deref().unwrap_or(&f.stream.name);
    let mut out = Vec::with_capacity(1024);
    field(
        &mut out,
        "MESSAGE",
        &one_line(&format!("{} on {} (confidence {:.2})", f.playbook.title, stream, f.confidence)),
    );
    field(&mut out, "PRIORITY", &priority(&f.playbook.severity).to_string());
    field(&mut out, "SYSLOG_IDENTIFIER", "faultline");
    field(&mut out, "MESSAGE_ID", MESSAGE_ID);
    field(&mut out, "FAULTLINE_PLAYBOOK", &f.playbook.id);
    field(&mut out, "FAULTLINE_CATEGORY", &f.playbook.category);
    field(&mut out, "FAULTLINE_SEVERITY", &f.playbook.severity);
    field(&mut out, "FAULTLINE_CONFIDENCE", &format!("{:.2}", f.confidence));
    field(&mut out, "FAULTLINE_STREAM", stream);
    field(&mut out, "FAULTLINE_STREAM_KIND", &f.stream.kind);
    field(&mut out, "FAULTLINE_HOST", &f.host);
    field(&mut out, "FAULTLINE_FINDING_ID", &f.id);
    let evidence: Vec<&str> = f.evidence.iter().map(|l| l.text.as_str()).collect();
    field(&mut out, "FAULTLINE_EVIDENCE", &evidence.join("\n"));
    let fix: Vec<String> =
        f.fix.iter().enumerate().map(|(i, s)| format!("{}. {}", i + 1, s.trim_end())).collect();
    field(&mut out, "FAULTLINE_FIX", &fix.join("\n"));
    out
}

/// How an entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Datagram,
    Memfd,
}

/// Sends one entry (blocking, at most 5 s when journald is not reading).
pub fn send(socket: &Path, payload: &[u8]) -> io::Result<Via> {
    let sock = UnixDatagram::unbound()?;
    sock.set_write_timeout(Some(Duration::from_secs(5)))?;
    match sock.send_to(payload, socket) {
        Ok(_) => Ok(Via::Datagram),
        Err(e) if too_large(&e) => {
            send_memfd(&sock, socket, payload)?;
            Ok(Via::Memfd)
        }
        Err(e) => Err(e),
    }
}

fn too_large(e: &io::Error) -> bool {
    use rustix::io::Errno;
    e.raw_os_error().is_some_and(|c| c == Errno::MSGSIZE.raw_os_error() || c == Errno::NOBUFS.raw_os_error())
}

/// The large-entry path: the payload in a sealed memfd, its descriptor passed in an empty
/// datagram.
fn send_memfd(sock: &UnixDatagram, socket: &Path, payload: &[u8]) -> io::Result<()> {
    use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, memfd_create};
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix, sendmsg_addr};
    use std::mem::MaybeUninit;
    use std::os::fd::AsFd;

    let fd = memfd_create("faultline-journal-entry", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(payload)?;
    fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL)?;
    let addr = SocketAddrUnix::new(socket)?;
    let fds = [file.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("cannot attach the memfd"));
    }
    sendmsg_addr(sock, &addr, &[], &mut control, SendFlags::NOSIGNAL)?;
    Ok(())
}

pub struct Journal {
    socket: PathBuf,
    stats: Arc<SinkStats>,
}

impl Journal {
    pub fn new(socket: PathBuf, stats: Arc<SinkStats>) -> Journal {
        Journal { socket, stats }
    }

    /// Writes the spool to the journal, oldest first; retries while journald is away.
    pub async fn run(self, spool: Arc<Spool>, delivery: Delivery) {
        let mut backoff = Backoff::new(&delivery);
        let socket = Arc::new(self.socket.clone());
        loop {
            let batch = spool.peek(64);
            if batch.is_empty() {
                if spool.is_closing() {
                    return;
                }
                spool.changed().await;
                continue;
            }
            let s = socket.clone();
            let work = tokio::task::spawn_blocking(move || {
                let mut done = Vec::new();
                for (seq, event) in &batch {
                    if let Event::Finding(f) = &**event {
                        match send(&s, &entry(f)) {
                            Ok(via) => {
                                if via == Via::Memfd {
                                    debug!(id = %f.id, "Journal entry too large for a datagram; sent through a memfd.");
                                }
                                done.push((*seq, true));
                            }
                            Err(e) => return (done, Some(e)),
                        }
                    } else {
                        done.push((*seq, false));
                    }
                }
                (done, None)
            });
            let (done, error) = tokio::select! {
                r = work => r.unwrap_or_else(|e| (Vec::new(), Some(io::Error::other(e.to_string())))),
                _ = spool.drain_over() => {
                    info!(sink = "journal", left = spool.len(), "Drain time is up; undelivered findings stay in the spool.");
                    return;
                }
            };
            let seqs: Vec<u64> = done.iter().map(|(s, _)| *s).collect();
            SinkStats::add(&self.stats.sent, done.iter().filter(|(_, sent)| *sent).count() as u64);
            spool.remove(&seqs);
            match error {
                None => {
                    self.stats.answered(&self.stats.sent, 0);
                    if backoff.attempts() > 0 {
                        info!(sink = "journal", "Journal reachable again.");
                    }
                    backoff.reset();
                }
                Some(e) => {
                    self.stats.retrying();
                    let wait = backoff.next(None);
                    if backoff.attempts() == 1 {
                        warn!(sink = "journal", socket = %self.socket.display(), error = %e, retry_in = ?wait, "Cannot write to the journal; retrying.");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = spool.drain_over() => return,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::FindingLine;

    /// Parses native-protocol fields back (both forms).
    fn parse(mut b: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let nl = b.iter().position(|&c| c == b'\n').unwrap();
            let line = &b[..nl];
            if let Some(eq) = line.iter().position(|&c| c == b'=') {
                out.push((String::from_utf8(line[..eq].to_vec()).unwrap(), line[eq + 1..].to_vec()));
                b = &b[nl + 1..];
            } else {
                let name = String::from_utf8(line.to_vec()).unwrap();
                let len = u64::from_le_bytes(b[nl + 1..nl + 9].try_into().unwrap()) as usize;
                out.push((name, b[nl + 9..nl + 9 + len].to_vec()));
                assert_eq!(b[nl + 9 + len], b'\n');
                b = &b[nl + 10 + len..];
            }
        }
        out
    }

    #[test]
    fn entries_carry_every_field_and_multi_line_values_in_binary_form() {
        let mut f = crate::sink::spool::tests::finding("abc");
        f.playbook.severity = "critical".into();
        f.playbook.title = "Disk\nfull".into();
        f.evidence = vec![
            FindingLine { line: 1, text: "first = line".into(), time: String::new() },
            FindingLine { line: 2, text: "second".into(), time: String::new() },
        ];
        f.fix = vec!["Free space.".into(), "Check quotas.".into()];
        let fields = parse(&entry(&f));
        let get =
            |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| String::from_utf8(v.clone()).unwrap());
        assert_eq!(get("MESSAGE").unwrap(), "Disk full on stdin (confidence 0.90)");
        assert_eq!(get("PRIORITY").unwrap(), "2");
        assert_eq!(get("SYSLOG_IDENTIFIER").unwrap(), "faultline");
        assert_eq!(get("FAULTLINE_FINDING_ID").unwrap(), "abc");
        assert_eq!(get("FAULTLINE_EVIDENCE").unwrap(), "first = line\nsecond");
        assert_eq!(get("FAULTLINE_FIX").unwrap(), "1. Free space.\n2. Check quotas.");
        assert_eq!(get("FAULTLINE_CONFIDENCE").unwrap(), "0.90");
        assert_eq!([priority("high"), priority("medium"), priority("low")], [3, 4, 5]);
    }

    #[test]
    fn an_absent_socket_is_one_clear_line() {
        let e = check_socket(Path::new("/nonexistent/journal/socket")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/journal/socket") && !e.contains('\n'), "{e}");
    }
}
