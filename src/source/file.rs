//! Following files: glob discovery, inotify wake-ups (via `notify`) with a stat-polling
//! fallback, rotation, truncation, and checkpoints — without losing or repeating a line.
//!
//! * A *stream* is a followed path. Its file is identified by (device, inode) plus a fingerprint
//!   (hash of its first bytes), so inode reuse is not mistaken for the old file.
//! * Rename rotation: when the path leads to a new inode, the old file is kept open and read to
//!   its end — lines written to it after the rename are not lost — and closed after it has been
//!   quiet for `rotate_wait` (at once if it was deleted). The new file is read from its start.
//!   Both are inputs of the same stream, framed separately, correlated together.
//! * Truncation (copytruncate): size below the read offset, or a changed head, means the file
//!   was rewritten: it is read again from its start, counted and logged.
//! * Checkpoints: per stream, the offset just past the last complete line of each open file and
//!   the correlation state. Written at most once a second, before any finding is emitted, and at
//!   shutdown. After a restart a file is resumed where it was left; if the path now leads to a
//!   new file, the old one is looked for in the same directory (it was rotated while we were
//!   down) and drained first.
//!
//! Runs on a blocking thread: file reads are synchronous and fast, and one thread follows all
//! files of the source.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use super::{Counters, Ready, Rebind, SourceContext, now_ms, send_blocking};
use crate::config::{FileSource, Start, decoding};
use crate::correlate::StreamCorrelator;
use crate::correlate::state::CorrelatorSnapshot;
use crate::decode::{DecoderState, Pos};
use crate::finding::{Event, StreamInfo};
use crate::frame::LineFramer;
use crate::stream::{InputId, StreamProcessor, Workspace};

/// Bytes of a file's head that identify it.
const FINGERPRINT_BYTES: usize = 256;
/// Read buffer; also the most read from one file before the others get a turn.
const READ_BYTES: usize = 256 << 10;
const ROUND_BUDGET: u64 = 8 << 20;
/// Compressed rotated logs are never read (kubelet and logrotate gzip old files).
const COMPRESSED: [&str; 6] = ["gz", "xz", "zst", "bz2", "zip", "lz4"];
/// With file events, every file is stat-checked on every this-many-th periodic pass.
const SAFETY_PASS_EVERY: u32 = 10;

/// Wakes the file thread: a file-system event, or the order to stop.
pub enum Wake {
    Fs(notify::Result<notify::Event>),
    /// A reload: move every stream to the new catalog.
    Rebind(Rebind),
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Fingerprint {
    len: usize,
    hash: String,
}

impl Fingerprint {
    /// The fingerprint of a newly found file's head; empty when it cannot be read (it is then
    /// taken again once the file has grown).
    fn head(file: &mut File) -> Self {
        Self::of(file, FINGERPRINT_BYTES).unwrap_or(Fingerprint { len: 0, hash: String::new() })
    }

    fn of(file: &mut File, len: usize) -> io::Result<Self> {
        let mut head = vec![0u8; len];
        file.seek(SeekFrom::Start(0))?;
        let mut got = 0;
        while got < len {
            match file.read(&mut head[got..])? {
                0 => break,
                n => got += n,
            }
        }
        head.truncate(got);
        Ok(Fingerprint { len: got, hash: hex::encode(&Sha256::digest(&head)[..8]) })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    path: String,
    dev: u64,
    ino: u64,
    fingerprint: Fingerprint,
    offset: u64,
    after_cr: bool,
    next_line: u64,
    /// False for a rotated-away file that was still being drained.
    current: bool,
    /// What the decoder kept (container log formats, multi-line records held back).
    #[serde(default, skip_serializing_if = "is_default")]
    decoder: DecoderState,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StreamEntry {
    path: String,
    files: Vec<FileEntry>,
    correlation: CorrelatorSnapshot,
    /// When the current file was opened ([`Followed::since`]); absent in older checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<(i64, i64)>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    streams: Vec<StreamEntry>,
    /// The most recently retired files ([`FileSourceTask::retired`]), so that after a restart a
    /// rotated file read to its end is not taken for one still to read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retired: Vec<(u64, u64, Fingerprint)>,
}

/// Retired files kept in the checkpoint (the newest ones; rotations are rarely more frequent).
const RETIRED_SAVED: usize = 256;

/// One open file.
struct Open {
    path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
    fingerprint: Fingerprint,
    input: InputId,
    /// Read position (may be ahead of the checkpoint offset by a partial line).
    offset: u64,
    last_growth: Instant,
    /// (size, mtime) when last looked at: unchanged means nothing to check or read …
    stamp: (u64, i64, i64),
    /// … unless the last read stopped at the round budget with more left to read.
    behind: bool,
}

impl Open {
    /// A file just opened, read from `offset` on.
    fn new(
        path: PathBuf,
        file: File,
        (dev, ino): (u64, u64),
        fingerprint: Fingerprint,
        input: InputId,
        offset: u64,
    ) -> Self {
        Open {
            path,
            file,
            dev,
            ino,
            fingerprint,
            input,
            offset,
            last_growth: Instant::now(),
            stamp: (0, 0, 0),
            behind: false,
        }
    }
}

struct Followed {
    proc: StreamProcessor,
    current: Option<Open>,
    rotated: Vec<Open>,
    last_data: Instant,
    /// When the current file was opened (wall clock, as file times are): a file renamed since
    /// then may be one that was at the path between two looks (see [`FileSourceTask::adopt_intermediate`]).
    since: Option<(i64, i64)>,
}

impl Followed {
    /// True when the file at (dev, ino) is this stream's current or one of its rotated files.
    fn has_open(&self, dev: u64, ino: u64) -> bool {
        self.current.iter().chain(&self.rotated).any(|o| o.dev == dev && o.ino == ino)
    }
}

/// Now, as (seconds, nanoseconds) since the epoch, a little early: file times come from the
/// kernel's coarse clock, which lags the precise one by up to a tick.
fn file_time_now() -> (i64, i64) {
    let t = std::time::SystemTime::now()
        .checked_sub(Duration::from_millis(50))
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    (t.as_secs() as i64, i64::from(t.subsec_nanos()))
}

pub struct FileSourceTask {
    spec: FileSource,
    ctx: SourceContext,
    id: String,
    wake: Receiver<Wake>,
    wake_tx: Sender<Wake>,
    streams: BTreeMap<PathBuf, Followed>,
    watcher: Option<notify::RecommendedWatcher>,
    watched: BTreeSet<PathBuf>,
    polling: bool,
    buf: Vec<u8>,
    ws: Workspace,
    out: Vec<Event>,
    dirty_since: Option<Instant>,
    last_checkpoint: Instant,
    /// Rotated files read to their end and closed (device, inode, head): a glob that also
    /// matches their new name (`0.log.20261126-100000`, `app.log.1`) must not read them again.
    retired: std::collections::VecDeque<(u64, u64, Fingerprint)>,
}

/// Closed rotated files remembered (see `FileSourceTask::retired`).
const RETIRED_MAX: usize = 4096;

impl FileSourceTask {
    pub fn new(
        mut spec: FileSource,
        ctx: SourceContext,
        wake: Receiver<Wake>,
        wake_tx: Sender<Wake>,
    ) -> Self {
        let id = crate::checkpoint::source_id("file", &spec.name);
        // Relative paths are taken from the working directory, once: inotify reports absolute
        // paths, and the streams (and their checkpoints) are keyed by the path they were found at.
        for pattern in &mut spec.paths {
            if let Ok(abs) = std::path::absolute(&*pattern) {
                *pattern = abs.to_string_lossy().into_owned();
            }
        }
        Self {
            spec,
            ctx,
            id,
            wake,
            wake_tx,
            streams: BTreeMap::new(),
            watcher: None,
            watched: BTreeSet::new(),
            polling: false,
            buf: vec![0; READ_BYTES],
            ws: Workspace::default(),
            out: Vec::new(),
            dirty_since: None,
            last_checkpoint: Instant::now(),
            retired: Default::default(),
        }
    }

    /// True when the file at `path` is already read as another path of a stream (a symlink
    /// such as `/var/log/containers/*.log`, a rotated file under its new name), or was a
    /// rotated file that has been read to its end.
    fn already_read(&self, path: &Path) -> bool {
        let Ok((mut file, meta)) = open(path) else { return false };
        let (dev, ino) = (meta.dev(), meta.ino());
        self.streams.values().any(|f| f.has_open(dev, ino)) || self.is_retired(&mut file, (dev, ino))
    }

    /// True when `file`, at (dev, ino), is a rotated file already read to its end.
    fn is_retired(&self, file: &mut File, (dev, ino): (u64, u64)) -> bool {
        self.retired.iter().any(|(d, i, fp)| *d == dev && *i == ino && self.same_head(file, fp))
    }

    /// Follows the files until told to stop (or, with `--once`, until every file was read to
    /// its end). Returns an error only for a failure that stops the whole source.
    pub fn run(mut self, mut ready: Ready) -> io::Result<()> {
        self.start_watching();
        let saved = self.load_checkpoint();
        self.discover(true, saved);
        ready.fire();
        if self.ctx.once {
            return self.run_once();
        }
        info!(source = %self.spec.name, files = self.streams.len(), polling = self.polling, "Following files.");
        let poll = self.ctx.limits.poll_interval;
        let mut last_rescan = Instant::now();
        let mut safety_passes = 0u32;
        self.service_all(true);
        self.emit()?;
        loop {
            let timeout = self.next_timeout(last_rescan + poll);
            let mut dirty: BTreeSet<PathBuf> = BTreeSet::new();
            let mut renames: Vec<(PathBuf, PathBuf)> = Vec::new();
            let mut rescan = false;
            let mut everything = false;
            self.ctx.counters.beat();
            let first = match self.wake.recv_timeout(timeout) {
                Ok(w) => Some(w),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Wake::Stop),
            };
            let mut stop = false;
            let woken: Vec<Wake> =
                first.into_iter().chain(std::iter::from_fn(|| self.wake.try_recv().ok())).collect();
            for w in woken {
                match w {
                    Wake::Stop => stop = true,
                    Wake::Rebind(r) => self.rebind(r),
                    Wake::Fs(Ok(ev)) => {
                        if let EventKind::Modify(notify::event::ModifyKind::Name(
                            notify::event::RenameMode::Both,
                        )) = ev.kind
                        {
                            if let [from, to] = &ev.paths[..] {
                                renames.push((from.clone(), to.clone()));
                            }
                        }
                        if ev.need_rescan() {
                            everything = true;
                            rescan = true;
                        }
                        if !matches!(
                            ev.kind,
                            EventKind::Modify(notify::event::ModifyKind::Data(_)) | EventKind::Access(_)
                        ) {
                            rescan = true;
                        }
                        dirty.extend(ev.paths);
                    }
                    Wake::Fs(Err(e)) => {
                        warn!(source = %self.spec.name, error = %e, "File watch error; checking every file.");
                        everything = true;
                    }
                }
            }
            if stop {
                self.read_renamed_before_stop(&renames)?;
                break;
            }
            if last_rescan.elapsed() >= poll {
                // The periodic pass: globs again (new files, directories not watched yet) …
                rescan = true;
                last_rescan = Instant::now();
                // … and a stat of every file: each time when polling, every tenth time when
                // events arrive (they can be lost, e.g. on queue overflow or some filesystems).
                safety_passes += 1;
                everything |= self.polling || safety_passes % SAFETY_PASS_EVERY == 0;
            }
            if rescan {
                self.discover(false, None);
            }
            if !renames.is_empty() {
                self.adopt_renames(&renames);
            }
            if everything || self.polling {
                self.service_all(false);
            } else {
                let paths: Vec<PathBuf> = self
                    .streams
                    .iter()
                    .filter(|(p, f)| {
                        dirty.contains(*p)
                            || f.current.as_ref().is_some_and(|o| o.behind)
                            || f.rotated.iter().any(|o| dirty.contains(&o.path))
                            || !f.rotated.is_empty()
                    })
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in paths {
                    self.service(&p);
                }
            }
            self.timers();
            self.emit()?;
            if self.dirty_since.is_some() && self.last_checkpoint.elapsed() >= Duration::from_secs(1) {
                self.write_checkpoint();
            }
        }
        self.shutdown()
    }

    /// Files renamed away since the last look are known only from the rename events that came
    /// with the stop (no checkpoint names them): adopt and read them now, or their lines are
    /// never read. Only some of the events may have come yet; `adopt_renames` finds the files
    /// renamed in between by itself.
    fn read_renamed_before_stop(&mut self, renames: &[(PathBuf, PathBuf)]) -> io::Result<()> {
        if renames.is_empty() {
            return Ok(());
        }
        self.adopt_renames(renames);
        self.service_all(false);
        self.emit()
    }

    fn rebind(&mut self, r: Rebind) {
        let old = std::mem::replace(&mut self.ctx.shared, r.shared);
        for f in self.streams.values_mut() {
            f.proc.rebind(&old, &self.ctx.shared, &|id| r.kept.contains(id));
        }
        self.write_checkpoint();
    }

    /// The `--once` run: read everything there is, report what is pending, checkpoint.
    fn run_once(mut self) -> io::Result<()> {
        loop {
            let before = self.bytes_read();
            self.service_all(false);
            self.emit()?;
            if self.bytes_read() == before {
                break;
            }
        }
        self.shutdown()
    }

    fn bytes_read(&self) -> u64 {
        self.streams.values().map(|s| s.proc.stats().bytes).sum()
    }

    /// Stop reading, report what is pending, write the checkpoint.
    fn shutdown(mut self) -> io::Result<()> {
        let now = now_ms();
        for f in self.streams.values_mut() {
            // Complete lines only: a partial last line stays unconsumed and is re-read later,
            // except in `--once`, where the end of the file is the end of the stream.
            if self.ctx.once {
                f.proc.end(&mut self.ws, &self.ctx.shared, now, &mut self.out);
            } else {
                f.proc.flush_pending(&mut self.ws, &self.ctx.shared, now, &mut self.out);
            }
        }
        self.dirty_since = Some(Instant::now());
        self.emit()?;
        self.write_checkpoint();
        for (path, f) in &self.streams {
            let st = f.proc.stats();
            info!(path = %path.display(), lines = st.lines, bytes = st.bytes, lines_cut = st.lines_cut, findings = st.findings, "Stream summary.");
        }
        Ok(())
    }

    fn next_timeout(&self, next_rescan: Instant) -> Duration {
        let now = Instant::now();
        let mut until = next_rescan.saturating_duration_since(now);
        let wall = now_ms();
        for f in self.streams.values() {
            if f.current.iter().chain(&f.rotated).any(|o| o.behind) {
                return Duration::ZERO;
            }
            if let Some(d) = f.proc.next_deadline(&self.ctx.shared) {
                until = until.min(Duration::from_millis(d.saturating_sub(wall)));
            }
            let has_partial = f.current.as_ref().is_some_and(|o| f.proc.has_partial_line(o.input));
            if has_partial {
                let due = f.last_data + self.ctx.limits.partial_line_timeout;
                until = until.min(due.saturating_duration_since(now));
            }
            for o in &f.rotated {
                let due = o.last_growth + self.ctx.limits.rotate_wait;
                until = until.min(due.saturating_duration_since(now));
            }
        }
        // Wake at least every second: the loop's turning is the daemon's liveness signal.
        until.clamp(Duration::from_millis(1), Duration::from_secs(1))
    }

    // -----------------------------------------------------------------------------------------
    // Watching and discovery.

    fn start_watching(&mut self) {
        if self.ctx.limits.poll_only {
            self.polling = true;
            info!(source = %self.spec.name, interval = ?self.ctx.limits.poll_interval, "Polling files (limits.watcher: poll).");
            return;
        }
        let tx = self.wake_tx.clone();
        match notify::recommended_watcher(move |res| {
            let _ = tx.send(Wake::Fs(res));
        }) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => self.fall_back_to_polling(&e.to_string()),
        }
        self.add_watches();
    }

    fn fall_back_to_polling(&mut self, why: &str) {
        if !self.polling {
            warn!(source = %self.spec.name, reason = why, interval = ?self.ctx.limits.poll_interval, "File events unavailable; polling instead.");
            self.polling = true;
            self.ctx.counters.add(&self.ctx.counters.poll_fallbacks, 1);
        }
    }

    /// Watches the fixed directory part of every glob (recursively when the glob has wildcard
    /// directories). Directories that do not exist yet are retried at every rescan.
    fn add_watches(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else { return };
        let mut failure = None;
        for pattern in &self.spec.paths {
            let (base, recursive) = glob_base(pattern);
            if self.watched.contains(&base) || !base.is_dir() {
                continue;
            }
            let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
            match watcher.watch(&base, mode) {
                Ok(()) => {
                    self.watched.insert(base);
                }
                Err(e) => failure = Some(e.to_string()),
            }
        }
        if let Some(why) = failure {
            // ENOSPC (inotify watch limit), EMFILE (instance limit), …
            self.fall_back_to_polling(&why);
        }
    }

    fn excluded(&self, path: &Path) -> bool {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.extension().and_then(|e| e.to_str()).is_some_and(|e| COMPRESSED.contains(&e)) {
            return true;
        }
        self.spec
            .exclude
            .iter()
            .any(|ex| glob::Pattern::new(ex).is_ok_and(|p| p.matches_path(path) || p.matches(&name)))
    }

    /// Expands the globs; follows every new regular file. At start-up (`initial`) a file without
    /// a checkpoint starts at the configured position; found later, it is new and read from 0.
    fn discover(&mut self, initial: bool, saved: Option<HashMap<PathBuf, StreamEntry>>) {
        if !initial && !self.polling {
            self.add_watches();
        }
        let mut found = BTreeSet::new();
        for pattern in &self.spec.paths {
            match glob::glob(pattern) {
                Ok(paths) => found.extend(paths.flatten()),
                Err(e) => warn!(source = %self.spec.name, pattern = %pattern, error = %e, "Invalid glob."),
            }
        }
        let mut saved = saved.unwrap_or_default();
        for path in found {
            if self.streams.contains_key(&path) || self.excluded(&path) {
                continue;
            }
            let Ok(meta) = fs::metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            if self.already_read(&path) {
                debug!(path = %path.display(), "Already read under another name; not followed again.");
                continue;
            }
            let entry = saved.remove(&path);
            self.follow(path, entry, initial);
        }
        // Streams we had a checkpoint for whose path is gone: their file may have been rotated
        // away while we were down; drain it if it is still in the directory.
        for (path, entry) in saved {
            if self.excluded(&path) {
                continue;
            }
            let mut followed = self.new_stream(&path, Some(entry.correlation.clone()));
            self.recover_rotated(&mut followed, &entry, None);
            if !followed.rotated.is_empty() {
                self.streams.insert(path, followed);
            }
        }
    }

    fn new_stream(&self, path: &Path, correlation: Option<CorrelatorSnapshot>) -> Followed {
        let shown = path.display().to_string();
        let mut info = StreamInfo::new("file", shown.clone());
        info.path = Some(shown);
        info.labels.extend(super::kube::labels_from_path(path));
        let mut proc = StreamProcessor::new(info, &self.ctx.shared).with_counters(self.ctx.counters.clone());
        proc.set_decoding(decoding(self.spec.format, &self.spec.multiline, &self.ctx.limits));
        if let Some(snap) = correlation {
            proc.set_correlator(StreamCorrelator::restore(snap, &self.ctx.shared.catalog, |_| true));
        }
        self.ctx.counters.add(&self.ctx.counters.streams, 1);
        Followed { proc, current: None, rotated: Vec::new(), last_data: Instant::now(), since: None }
    }

    fn follow(&mut self, path: PathBuf, entry: Option<StreamEntry>, initial: bool) {
        let mut followed = self.new_stream(&path, entry.as_ref().map(|e| e.correlation.clone()));
        let opened = match open(&path) {
            Ok(o) => o,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "Cannot open file; will retry.");
                return;
            }
        };
        let (mut file, meta) = opened;
        let size = meta.len();
        let (dev, ino) = (meta.dev(), meta.ino());
        let fingerprint = Fingerprint::head(&mut file);
        let mut resumed = None;
        if let Some(entry) = &entry {
            let same = entry
                .files
                .iter()
                .find(|f| f.dev == dev && f.ino == ino && self.same_head(&mut file, &f.fingerprint));
            match same {
                Some(f) if f.offset <= size => {
                    let at = Pos { offset: f.offset, after_cr: f.after_cr, next_line: f.next_line };
                    resumed = Some((followed.proc.resume_input_with(at, Some(&f.decoder)), f.offset));
                    debug!(path = %path.display(), offset = f.offset, "Resuming from checkpoint.");
                }
                Some(f) => {
                    warn!(path = %path.display(), offset = f.offset, size, "File is shorter than its checkpoint: it was truncated; reading from the start.");
                    self.ctx.counters.add(&self.ctx.counters.truncations, 1);
                }
                None => {
                    // The path leads to a new file: the one we followed was rotated while we
                    // were down (or just before we stopped). Drain it and any file that was at
                    // the path in between first, then read the new one from its start.
                    self.recover_rotated(&mut followed, entry, Some((dev, ino)));
                    followed.since = entry.since;
                    self.adopt_intermediate(&mut followed, &path);
                }
            }
        }
        let (input, offset) = match resumed {
            Some(r) => r,
            None => {
                let from_start =
                    !initial || entry.is_some() || self.ctx.from_start || self.spec.start == Start::Beginning;
                if from_start {
                    (followed.proc.add_input(), 0)
                } else {
                    let lines = count_lines(&mut file, size);
                    (followed.proc.resume_input(size, lines.1, lines.0 + 1), size)
                }
            }
        };
        if file.seek(SeekFrom::Start(offset)).is_err() {
            return;
        }
        self.ctx.counters.add(&self.ctx.counters.open_files, 1);
        followed.since = Some(file_time_now());
        followed.current = Some(Open::new(path.clone(), file, (dev, ino), fingerprint, input, offset));
        if !initial {
            info!(path = %path.display(), "New file.");
        }
        self.streams.insert(path, followed);
    }

    /// True when the file's first `fp.len` bytes still hash to `fp`.
    fn same_head(&self, file: &mut File, fp: &Fingerprint) -> bool {
        Fingerprint::of(file, fp.len).is_ok_and(|now| now == *fp)
    }

    /// Looks in the directory of a checkpointed stream for the files it was reading (by inode
    /// and head), and drains them from their checkpoint offsets.
    fn recover_rotated(&self, followed: &mut Followed, entry: &StreamEntry, except: Option<(u64, u64)>) {
        let dir =
            Path::new(&entry.path).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let Ok(rd) = fs::read_dir(&dir) else { return };
        let candidates: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        for f in &entry.files {
            if except == Some((f.dev, f.ino)) {
                continue;
            }
            for c in &candidates {
                let Ok((mut file, meta)) = open(c) else { continue };
                if meta.dev() != f.dev || meta.ino() != f.ino || !self.same_head(&mut file, &f.fingerprint) {
                    continue;
                }
                if meta.len() < f.offset || file.seek(SeekFrom::Start(f.offset)).is_err() {
                    continue;
                }
                info!(path = %c.display(), was = %entry.path, offset = f.offset, "Found the file rotated while stopped; reading it to its end.");
                let at = Pos { offset: f.offset, after_cr: f.after_cr, next_line: f.next_line };
                let input = followed.proc.resume_input_with(at, Some(&f.decoder));
                self.ctx.counters.add(&self.ctx.counters.open_files, 1);
                followed.rotated.push(Open::new(
                    c.clone(),
                    file,
                    (f.dev, f.ino),
                    f.fingerprint.clone(),
                    input,
                    f.offset,
                ));
                break;
            }
        }
    }

    /// After the path was found to lead to another file: the files beside it that were at the
    /// path in between (several rotations between two looks), before their rename events are
    /// handled — which may be never, when a stop comes first. They are the unknown files whose
    /// name starts with the path's and that were renamed (their ctime moved) since the file we
    /// had open was opened; they are read from their start, oldest first. Compressed files are
    /// left alone, as everywhere.
    fn adopt_intermediate(&self, f: &mut Followed, path: &Path) {
        let (Some(since), Some(name), Some(dir)) = (f.since, path.file_name(), path.parent()) else { return };
        let name = name.to_string_lossy();
        let Ok(rd) = fs::read_dir(dir) else { return };
        let mut found: Vec<((i64, i64), PathBuf)> = Vec::new();
        for entry in rd.flatten() {
            let p = entry.path();
            let Some(other) = p.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
            if other == name || !other.starts_with(&*name) {
                continue;
            }
            if p.extension().and_then(|e| e.to_str()).is_some_and(|e| COMPRESSED.contains(&e)) {
                continue;
            }
            let Ok(meta) = fs::metadata(&p) else { continue };
            let changed = (meta.ctime(), meta.ctime_nsec());
            if meta.is_file() && changed >= since {
                found.push((changed, p));
            }
        }
        found.sort();
        for (_, p) in found {
            let Ok((mut file, meta)) = open(&p) else { continue };
            let (dev, ino) = (meta.dev(), meta.ino());
            // Ours already, another stream's (a glob that matches rotated names too), or read.
            let known = f.has_open(dev, ino)
                || self.streams.values().any(|other| other.has_open(dev, ino))
                || self.is_retired(&mut file, (dev, ino));
            if !known {
                self.adopt_from_start(f, path, p, file, (dev, ino));
            }
        }
    }

    /// Adds `file`, found renamed away from `from` to `to` before it was read, to the rotated
    /// inputs of `f`, to be read from its start.
    fn adopt_from_start(
        &self,
        f: &mut Followed,
        from: &Path,
        to: PathBuf,
        mut file: File,
        (dev, ino): (u64, u64),
    ) {
        let fingerprint = Fingerprint::head(&mut file);
        let _ = file.seek(SeekFrom::Start(0));
        info!(path = %from.display(), to = %to.display(), "File rotated before it was read; reading it from its start.");
        self.ctx.counters.add(&self.ctx.counters.rotations, 1);
        self.ctx.counters.add(&self.ctx.counters.open_files, 1);
        let input = f.proc.add_input();
        f.rotated.push(Open::new(to, file, (dev, ino), fingerprint, input, 0));
    }

    /// Rotations seen as rename events, in order. A file renamed away from a followed path is
    /// kept as a rotated input of that stream even when it is not the one we had open: with
    /// several rotations between two looks at the path, the files in between were at the path
    /// only briefly, and reading them from their start is how none of their lines is lost.
    fn adopt_renames(&mut self, renames: &[(PathBuf, PathBuf)]) {
        for (from, to) in renames {
            let Some(mut f) = self.streams.remove(from) else { continue };
            if let Ok((file, meta)) = open(to) {
                let (dev, ino) = (meta.dev(), meta.ino());
                let is_current = f.current.as_ref().is_some_and(|c| c.dev == dev && c.ino == ino);
                let known = f.rotated.iter().any(|o| o.dev == dev && o.ino == ino);
                if is_current {
                    let mut cur = f.current.take().expect("checked");
                    info!(path = %from.display(), to = %to.display(), "File rotated; reading the old one to its end.");
                    self.ctx.counters.add(&self.ctx.counters.rotations, 1);
                    cur.path = to.clone();
                    f.rotated.push(cur);
                    // Files that were at the path after this one and are renamed away already:
                    // their own events may come late (after a stop: never).
                    self.adopt_intermediate(&mut f, from);
                } else if !known && meta.is_file() {
                    let mut file = file;
                    if self.is_retired(&mut file, (dev, ino)) {
                        // Adopted before its event came (`adopt_intermediate`) and read already.
                        self.streams.insert(from.clone(), f);
                        continue;
                    }
                    self.adopt_from_start(&mut f, from, to.clone(), file, (dev, ino));
                }
            }
            self.streams.insert(from.clone(), f);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Reading.

    fn service_all(&mut self, _initial: bool) {
        let paths: Vec<PathBuf> = self.streams.keys().cloned().collect();
        for p in paths {
            self.service(&p);
        }
    }

    /// Checks one stream for rotation and truncation, then reads what is new.
    fn service(&mut self, path: &Path) {
        let Some(mut f) = self.streams.remove(path) else { return };
        let now = now_ms();
        let counters = self.ctx.counters.clone();
        // 1. Where does the path lead now?
        let current_meta = fs::metadata(path);
        let moved = match (&f.current, &current_meta) {
            (Some(cur), Ok(m)) => m.dev() != cur.dev || m.ino() != cur.ino,
            (Some(_), Err(_)) => true,
            (None, _) => false,
        };
        if moved {
            let cur = f.current.take().expect("checked");
            info!(path = %path.display(), "File rotated; reading the old one to its end.");
            counters.add(&counters.rotations, 1);
            f.rotated.push(cur);
            self.adopt_intermediate(&mut f, path);
        }
        if f.current.is_none() {
            if let Ok(m) = &current_meta {
                if m.is_file() && !self.excluded(path) {
                    if let Ok((mut file, meta)) = open(path) {
                        let fingerprint = Fingerprint::head(&mut file);
                        let _ = file.seek(SeekFrom::Start(0));
                        let input = f.proc.add_input();
                        counters.add(&counters.open_files, 1);
                        f.since = Some(file_time_now());
                        f.current = Some(Open::new(
                            path.to_path_buf(),
                            file,
                            (meta.dev(), meta.ino()),
                            fingerprint,
                            input,
                            0,
                        ));
                    }
                }
            }
        }
        // 2. Drain rotated files first: their lines are older.
        let mut keep = Vec::new();
        for mut old in std::mem::take(&mut f.rotated) {
            let grew = self.read_available(&mut f.proc, &mut old, now);
            f.last_data = if grew { Instant::now() } else { f.last_data };
            let deleted = old.file.metadata().map(|m| m.nlink() == 0).unwrap_or(true);
            let quiet = old.last_growth.elapsed() >= self.ctx.limits.rotate_wait;
            if (deleted && !grew) || quiet || self.ctx.once && !grew {
                f.proc.close_input(&mut self.ws, old.input, &self.ctx.shared, now, &mut self.out);
                counters.sub(&counters.open_files, 1);
                debug!(path = %old.path.display(), "Closed rotated file.");
                if self.retired.len() >= RETIRED_MAX {
                    self.retired.pop_front();
                }
                self.retired.push_back((old.dev, old.ino, old.fingerprint.clone()));
            } else {
                keep.push(old);
            }
        }
        f.rotated = keep;
        // 3. Truncation, then new data, of the current file.
        if let Some(mut cur) = f.current.take() {
            let meta = cur.file.metadata();
            let stamp = meta.as_ref().map(|m| (m.len(), m.mtime(), m.mtime_nsec())).unwrap_or_default();
            if stamp == cur.stamp && !moved && !cur.behind {
                // Same size, same mtime, all of it read: nothing was written.
                f.current = Some(cur);
                self.streams.insert(path.to_path_buf(), f);
                return;
            }
            cur.stamp = stamp;
            if let Ok(meta) = meta {
                let shrank = meta.len() < cur.offset;
                let head_changed = !shrank
                    && cur.fingerprint.len > 0
                    && meta.len() >= cur.fingerprint.len as u64
                    && !self.same_head(&mut cur.file, &cur.fingerprint.clone());
                if shrank || head_changed {
                    warn!(path = %path.display(), offset = cur.offset, size = meta.len(), "File was truncated or rewritten; reading it from the start.");
                    counters.add(&counters.truncations, 1);
                    f.proc.restart_input(&mut self.ws, cur.input, &self.ctx.shared, now, &mut self.out);
                    cur.offset = 0;
                    cur.fingerprint = Fingerprint::head(&mut cur.file);
                } else if cur.fingerprint.len < FINGERPRINT_BYTES && meta.len() > cur.fingerprint.len as u64 {
                    if let Ok(fp) = Fingerprint::of(&mut cur.file, FINGERPRINT_BYTES) {
                        cur.fingerprint = fp;
                    }
                }
                let _ = cur.file.seek(SeekFrom::Start(cur.offset));
            }
            if self.read_available(&mut f.proc, &mut cur, now) {
                f.last_data = Instant::now();
            }
            f.current = Some(cur);
        }
        self.streams.insert(path.to_path_buf(), f);
    }

    /// Reads what `open` has beyond its offset (up to a per-round budget, for fairness).
    fn read_available(&mut self, proc: &mut StreamProcessor, open: &mut Open, now: u64) -> bool {
        let mut total = 0u64;
        open.behind = false;
        loop {
            match open.file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => {
                    proc.push(&mut self.ws, open.input, &self.ctx.shared, &self.buf[..n], now, &mut self.out);
                    open.offset += n as u64;
                    total += n as u64;
                    if total >= ROUND_BUDGET {
                        // Other files get their turn; the loop comes straight back for the rest.
                        open.behind = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!(path = %open.path.display(), error = %e, "Read failed.");
                    break;
                }
            }
        }
        if total > 0 {
            open.last_growth = Instant::now();
            self.dirty_since.get_or_insert_with(Instant::now);
        }
        total > 0
    }

    /// Settle deadlines, idle partial lines.
    fn timers(&mut self) {
        let now = now_ms();
        let partial_timeout = self.ctx.limits.partial_line_timeout;
        for f in self.streams.values_mut() {
            if f.proc.next_deadline(&self.ctx.shared).is_some_and(|d| d <= now) {
                f.proc.tick(&mut self.ws, &self.ctx.shared, now, &mut self.out);
                self.dirty_since.get_or_insert_with(Instant::now);
            }
            if let Some(cur) = &f.current {
                if f.proc.has_partial_line(cur.input) && f.last_data.elapsed() >= partial_timeout {
                    f.proc.flush_input(&mut self.ws, cur.input, &self.ctx.shared, now, &mut self.out);
                    self.dirty_since.get_or_insert_with(Instant::now);
                }
            }
        }
    }

    /// Checkpoint first, then hand the findings over: after a crash a finding is either in the
    /// checkpoint's cooldowns (and not repeated) or its lines are read again (and it is made again).
    fn emit(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.write_checkpoint();
        let findings = std::mem::take(&mut self.out);
        if !send_blocking(&self.ctx.findings, findings) {
            return Err(io::Error::other("the daemon stopped taking findings"));
        }
        Ok(())
    }

    fn load_checkpoint(&mut self) -> Option<HashMap<PathBuf, StreamEntry>> {
        match self.ctx.state.read::<Checkpoint>(&self.id) {
            Ok(Some(cp)) => {
                self.retired.extend(cp.retired);
                Some(cp.streams.into_iter().map(|s| (PathBuf::from(&s.path), s)).collect())
            }
            Ok(None) => None,
            Err(u) => {
                warn!(path = %u.path.display(), reason = %u.reason, moved_to = ?u.moved_to, "Checkpoint unusable; starting from the configured position.");
                None
            }
        }
    }

    fn write_checkpoint(&mut self) {
        let catalog = &self.ctx.shared.catalog;
        let streams = self
            .streams
            .iter()
            .map(|(path, f)| {
                let entry = |o: &Open, current: bool| {
                    let (offset, after_cr, next_line) = f.proc.position(o.input);
                    FileEntry {
                        path: o.path.display().to_string(),
                        dev: o.dev,
                        ino: o.ino,
                        fingerprint: o.fingerprint.clone(),
                        offset,
                        after_cr,
                        next_line,
                        current,
                        decoder: f.proc.decoder_state(o.input),
                    }
                };
                let files = f
                    .current
                    .iter()
                    .map(|o| entry(o, true))
                    .chain(f.rotated.iter().map(|o| entry(o, false)))
                    .collect();
                StreamEntry {
                    path: path.display().to_string(),
                    files,
                    correlation: f.proc.correlator().snapshot(catalog),
                    since: f.since,
                }
            })
            .collect();
        let retired =
            self.retired.iter().skip(self.retired.len().saturating_sub(RETIRED_SAVED)).cloned().collect();
        match self.ctx.state.write(&self.id, &Checkpoint { streams, retired }) {
            Ok(()) => {
                self.dirty_since = None;
                self.last_checkpoint = Instant::now();
                self.ctx.counters.set(&self.ctx.counters.checkpoint_ms, now_ms());
            }
            Err(e) => warn!(source = %self.spec.name, error = %e, "Cannot write checkpoint."),
        }
    }
}

fn open(path: &Path) -> io::Result<(File, Metadata)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// Lines before offset `size` (for true line numbers when starting at the end of a file), and
/// whether the last byte was a CR.
fn count_lines(file: &mut File, size: u64) -> (u64, bool) {
    let mut framer = LineFramer::new(1);
    let mut buf = vec![0u8; READ_BYTES];
    let mut left = size;
    if file.seek(SeekFrom::Start(0)).is_err() {
        return (0, false);
    }
    while left > 0 {
        let want = buf.len().min(left as usize);
        match file.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                framer.push(&buf[..n], |_| {});
                left -= n as u64;
            }
        }
    }
    (framer.next_number() - 1, framer.after_cr())
}

/// The directory part of a glob without wildcards, and whether wildcards follow in directories.
fn glob_base(pattern: &str) -> (PathBuf, bool) {
    let path = Path::new(pattern);
    let mut base = PathBuf::new();
    let mut components = path.components().peekable();
    while let Some(c) = components.next() {
        let s = c.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[']) || components.peek().is_none() {
            let recursive = components.peek().is_some();
            if base.as_os_str().is_empty() {
                base.push(".");
            }
            return (base, recursive);
        }
        base.push(c);
    }
    (base, false)
}

/// Counters the daemon shows for a file source.
pub fn open_files(counters: &Counters) -> u64 {
    Counters::get(&counters.open_files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn task(dir: &Path, log: &Path) -> (FileSourceTask, tokio::sync::mpsc::Receiver<Event>) {
        let cfg = crate::config::WatchConfig::default();
        let (findings, rx) = tokio::sync::mpsc::channel(64);
        let ctx = SourceContext {
            shared: crate::daemon::build_shared(&cfg).unwrap(),
            state: crate::checkpoint::StateDir::open(&dir.join("state")).unwrap(),
            findings,
            limits: cfg.limits,
            once: false,
            from_start: true,
            counters: Default::default(),
        };
        let spec = FileSource {
            name: "test".into(),
            paths: vec![log.display().to_string()],
            exclude: Vec::new(),
            start: Start::Beginning,
            format: Default::default(),
            multiline: None,
        };
        let (wake_tx, wake_rx) = std::sync::mpsc::channel();
        (FileSourceTask::new(spec, ctx, wake_rx, wake_tx), rx)
    }

    #[test]
    fn a_stop_with_only_the_first_of_several_rename_events_reads_every_rotated_file() {
        // Five rename rotations while the task is not looking; the stop comes with the event of
        // the first one only (the others were still on their way from the watcher thread).
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        File::create(&log).unwrap();
        let (mut task, _findings) = task(dir.path(), &log);
        task.discover(true, None);
        let mut written = 0;
        let mut writer = fs::OpenOptions::new().append(true).open(&log).unwrap();
        for round in 0..5 {
            for _ in 0..200 {
                writeln!(writer, "line {written}").unwrap();
                written += 1;
            }
            fs::rename(&log, dir.path().join(format!("app.log.{round}"))).unwrap();
            writeln!(writer, "line {written} through the old handle").unwrap();
            written += 1;
            writer = fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
            writeln!(writer, "line {written} in the new file").unwrap();
            written += 1;
        }
        task.read_renamed_before_stop(&[(log.clone(), dir.path().join("app.log.0"))]).unwrap();
        let read: u64 = task.streams.values().map(|f| f.proc.stats().lines).sum();
        assert_eq!(read, written);
    }

    #[test]
    fn glob_base_is_the_fixed_directory_part() {
        assert_eq!(glob_base("/var/log/*.log"), (PathBuf::from("/var/log"), false));
        assert_eq!(glob_base("/var/log/pods/*/*/*.log"), (PathBuf::from("/var/log/pods"), true));
        assert_eq!(glob_base("/var/log/app.log"), (PathBuf::from("/var/log"), false));
        assert_eq!(glob_base("*.log"), (PathBuf::from("."), false));
    }
}
