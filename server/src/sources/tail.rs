//! File tail: follows the files matching glob patterns, for `serve --tail` and the standalone
//! shipper `loginsight tail … --to URL` alike; they differ only in the [`Sink`] records go to.
//!
//! Files are known by identity (device + inode), not by name, so a rotation (rename + create)
//! is a new file at the pattern's path while the renamed one is read to its end through the
//! handle still open. A file whose size drops below our offset, or whose first bytes change,
//! was truncated or replaced, and is read again from the start. Lines are joined into
//! multi-line records by [`multiline`].
//!
//! Exactly once across restarts and crashes: offsets live in a state file, written atomically
//! (temp file, fsync, rename). Before a batch is delivered its byte ranges and a key are
//! written as *pending*; after the sink acknowledges, the offsets move past them. A restart
//! that finds a pending batch reads the same ranges again and delivers them under the same
//! key, which the receiver has already stored (a duplicate it drops) or not (stored now). So a
//! crash at any point loses nothing and stores nothing twice.
//!
//! Decisions: a file seen for the first time is read from its start; a line is taken only
//! once its line break is written (a partial last line waits, unless its file is gone); the
//! last record of a quiet file is closed after `linger`; plain-text lines get their leading
//! timestamp if they start with one (else the time they were read), JSON-object lines are
//! taken as structured logs.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

use normalise::multiline::{self, Ending, Record};

/// Most bytes read from one file per scan.
const MAX_CHUNK: usize = 4 * 1024 * 1024;
/// Most bytes delivered in one batch (all files together).
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Bytes at the start of a file that identify its content (with its inode).
const HEAD_BYTES: u64 = 64;

/// What to follow and where to keep the offsets.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Glob patterns (`/var/log/app/*.log`); each scan looks for new matches.
    pub patterns: Vec<String>,
    /// The state file holding offsets and the pending batch.
    pub state_file: PathBuf,
    /// `service` of records that carry none; else the file name up to its first dot.
    pub service: Option<String>,
    /// How often files are checked for new data and patterns for new files.
    pub poll: Duration,
    /// How long a quiet file's last record waits for continuation lines.
    pub linger: Duration,
}

impl TailOptions {
    pub fn new(patterns: Vec<String>, state_file: PathBuf) -> TailOptions {
        TailOptions {
            patterns,
            state_file,
            service: None,
            poll: Duration::from_millis(250),
            linger: Duration::from_secs(1),
        }
    }
}

/// Where records go. `deliver` returns once they are durable at the receiver; a batch
/// delivered again under the same key must be stored at most once.
pub trait Sink: Send {
    fn deliver(
        &mut self,
        objects: Vec<(Value, usize)>,
        key: String,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying (the receiver is down, busy or failed).
    #[error("{0}")]
    Retry(String),
    /// The receiver is going away; stop.
    #[error("{0}")]
    Closed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// The state file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    files: Vec<SavedFile>,
    pending: Option<Pending>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedFile {
    #[serde(flatten)]
    id: FileId,
    path: PathBuf,
    offset: u64,
    head_len: u64,
    head_crc: u32,
}

/// A batch handed to the sink and not yet known to be stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    key: String,
    ranges: Vec<PendingRange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingRange {
    #[serde(flatten)]
    id: FileId,
    path: PathBuf,
    start: u64,
    end: u64,
}

/// A file being followed.
struct Tracked {
    path: PathBuf,
    file: File,
    /// Everything before this is delivered.
    offset: u64,
    /// Length and checksum of the file's first bytes, as delivered: if they change, the file
    /// was truncated or replaced under the same inode.
    head_len: u64,
    head_crc: u32,
    seen_size: u64,
    grew_at: Instant,
    /// Since when no pattern matches it (renamed away or deleted).
    unmatched_since: Option<Instant>,
}

/// The records read from one file in one scan.
struct Piece {
    id: FileId,
    path: PathBuf,
    start: u64,
    end: u64,
    records: Vec<Record>,
}

/// The files, their offsets and the state file.
struct Tailer {
    options: TailOptions,
    tracked: HashMap<FileId, Tracked>,
    /// Offsets from the state file of files not (yet) seen in this run.
    saved: HashMap<FileId, SavedFile>,
    pending: Option<Pending>,
    host: String,
}

fn head_of(file: &File, len: u64) -> std::io::Result<(u64, u32)> {
    let len = len.min(HEAD_BYTES);
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0)?;
    Ok((len, crc32fast::hash(&buf)))
}

fn read_range(file: &File, start: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], start + filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

impl Tailer {
    fn open(options: TailOptions) -> anyhow::Result<Tailer> {
        let saved: Saved = match std::fs::read(&options.state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "the tail state file {} is not readable JSON; move it away to start over",
                    options.state_file.display()
                )
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot read tail state {}", options.state_file.display())
                });
            }
        };
        if let Some(dir) = options
            .state_file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        for pattern in &options.patterns {
            glob::Pattern::new(pattern)
                .with_context(|| format!("invalid tail pattern {pattern:?}"))?;
        }
        Ok(Tailer {
            options,
            tracked: HashMap::new(),
            saved: saved.files.into_iter().map(|f| (f.id, f)).collect(),
            pending: saved.pending,
            host: hostname(),
        })
    }

    fn save(&self) -> anyhow::Result<()> {
        let mut files: Vec<SavedFile> = self
            .tracked
            .iter()
            .map(|(id, t)| SavedFile {
                id: *id,
                path: t.path.clone(),
                offset: t.offset,
                head_len: t.head_len,
                head_crc: t.head_crc,
            })
            .chain(self.saved.values().cloned())
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let state = Saved {
            files,
            pending: self.pending.clone(),
        };
        let path = &self.options.state_file;
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut out = File::create(&tmp)?;
            out.write_all(&serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?)?;
            out.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().with_context(|| format!("cannot write tail state {}", path.display()))
    }

    /// Finds the files the patterns match now.
    fn discover(&mut self, now: Instant) {
        let mut matched = HashSet::new();
        for pattern in &self.options.patterns {
            let paths = match glob::glob(pattern) {
                Ok(paths) => paths,
                Err(err) => {
                    tracing::warn!(pattern, error = %err, "invalid tail pattern");
                    continue;
                }
            };
            for path in paths.flatten() {
                let Ok(file) = File::open(&path) else {
                    continue;
                };
                let Ok(meta) = file.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                let id = FileId::of(&meta);
                matched.insert(id);
                if let Some(t) = self.tracked.get_mut(&id) {
                    t.path = path;
                    continue;
                }
                let (offset, head_len, head_crc) = match self.saved.remove(&id) {
                    Some(s)
                        if s.offset <= meta.len()
                            && head_of(&file, s.head_len).ok()
                                == Some((s.head_len, s.head_crc)) =>
                    {
                        (s.offset, s.head_len, s.head_crc)
                    }
                    Some(s) => {
                        tracing::warn!(path = %path.display(), offset = s.offset, "file changed while not followed; reading it from the start");
                        (0, 0, 0)
                    }
                    None => (0, 0, 0),
                };
                tracing::info!(path = %path.display(), offset, "following");
                self.tracked.insert(
                    id,
                    Tracked {
                        path,
                        file,
                        offset,
                        head_len,
                        head_crc,
                        seen_size: meta.len(),
                        grew_at: now,
                        unmatched_since: None,
                    },
                );
            }
        }
        for (id, t) in self.tracked.iter_mut() {
            if matched.contains(id) {
                t.unmatched_since = None;
            } else {
                t.unmatched_since.get_or_insert(now);
            }
        }
    }

    /// Reads what is new in every followed file, up to one batch.
    fn scan(&mut self) -> Vec<Piece> {
        let now = Instant::now();
        self.discover(now);
        let grace = (self.options.poll * 4).max(Duration::from_secs(1));
        let mut ids: Vec<FileId> = self.tracked.keys().copied().collect();
        ids.sort_by(|a, b| self.tracked[a].path.cmp(&self.tracked[b].path));
        let mut pieces = Vec::new();
        let mut budget = MAX_BATCH_BYTES;
        for id in ids {
            if budget == 0 {
                break;
            }
            let t = self.tracked.get_mut(&id).expect("listed above");
            let size = match t.file.metadata() {
                Ok(meta) => meta.len(),
                Err(err) => {
                    tracing::warn!(path = %t.path.display(), error = %err, "cannot stat a followed file");
                    continue;
                }
            };
            let replaced = t.head_len > 0
                && (size < t.head_len
                    || head_of(&t.file, t.head_len).ok() != Some((t.head_len, t.head_crc)));
            if size < t.offset || replaced {
                tracing::warn!(path = %t.path.display(), offset = t.offset, size, "file truncated; reading it from the start");
                t.offset = 0;
                t.head_len = 0;
                t.head_crc = 0;
            }
            if size != t.seen_size {
                t.seen_size = size;
                t.grew_at = now;
            }
            if size <= t.offset {
                continue;
            }
            let len = ((size - t.offset) as usize)
                .min(MAX_CHUNK)
                .min(budget.max(64 * 1024));
            let bytes = match read_range(&t.file, t.offset, len) {
                Ok(bytes) => bytes,
                Err(err) => {
                    tracing::warn!(path = %t.path.display(), error = %err, "cannot read a followed file");
                    continue;
                }
            };
            let at_end = t.offset + bytes.len() as u64 >= size;
            let done = t.unmatched_since.is_some_and(|s| now - s >= grace);
            let quiet = now - t.grew_at >= self.options.linger;
            let mut ending = Ending {
                close_last: at_end && (quiet || done),
                take_partial: at_end && done,
            };
            let (mut records, mut end) = multiline::split(&bytes, t.offset, ending);
            if records.is_empty() && end == t.offset && bytes.len() >= MAX_CHUNK {
                // One line longer than a chunk: it is cut rather than waited on forever.
                ending = Ending {
                    close_last: true,
                    take_partial: true,
                };
                (records, end) = multiline::split(&bytes, t.offset, ending);
            }
            if end > t.offset {
                budget = budget.saturating_sub((end - t.offset) as usize);
                pieces.push(Piece {
                    id,
                    path: t.path.clone(),
                    start: t.offset,
                    end,
                    records,
                });
            }
        }
        pieces
    }

    /// Records `pieces` as the pending batch, before it is delivered.
    fn begin(&mut self, pieces: &[Piece]) -> anyhow::Result<String> {
        let mut hasher = crc32fast::Hasher::new();
        let mut ranges = String::new();
        for p in pieces {
            ranges.push_str(&format!("{}:{}:{}:{};", p.id.dev, p.id.ino, p.start, p.end));
            for r in &p.records {
                hasher.update(r.text.as_bytes());
            }
        }
        let key = format!(
            "tail:{:08x}{:08x}",
            crc32fast::hash(ranges.as_bytes()),
            hasher.finalize()
        );
        self.pending = Some(Pending {
            key: key.clone(),
            ranges: pieces
                .iter()
                .map(|p| PendingRange {
                    id: p.id,
                    path: p.path.clone(),
                    start: p.start,
                    end: p.end,
                })
                .collect(),
        });
        self.save()?;
        Ok(key)
    }

    /// The pending batch is stored: offsets move past it; files that are gone and read to
    /// their end are forgotten.
    fn commit(&mut self, pieces: &[(FileId, u64, u64)]) -> anyhow::Result<()> {
        for (id, start, end) in pieces {
            if let Some(t) = self.tracked.get_mut(id)
                && t.offset == *start
            {
                t.offset = *end;
                if t.head_len < HEAD_BYTES.min(*end)
                    && let Ok((len, crc)) = head_of(&t.file, *end)
                {
                    t.head_len = len;
                    t.head_crc = crc;
                }
            }
        }
        let now = Instant::now();
        let grace = (self.options.poll * 4).max(Duration::from_secs(1));
        self.tracked.retain(|_, t| {
            let finished = t.unmatched_since.is_some_and(|s| now - s >= grace)
                && t.offset >= t.seen_size;
            if finished {
                tracing::info!(path = %t.path.display(), "file read to its end and gone; no longer followed");
            }
            !finished
        });
        self.pending = None;
        self.save()
    }

    /// The records of the pending batch of a previous run, read again from its files.
    fn replay(&mut self) -> Option<(String, Vec<Piece>)> {
        let pending = self.pending.clone()?;
        self.discover(Instant::now());
        let mut pieces = Vec::new();
        for range in &pending.ranges {
            let file = match self.tracked.get(&range.id) {
                Some(t) => t.file.try_clone().ok(),
                None => File::open(&range.path)
                    .ok()
                    .filter(|f| f.metadata().is_ok_and(|m| FileId::of(&m) == range.id)),
            };
            let Some(file) = file else {
                tracing::warn!(path = %range.path.display(), "a file of the batch in flight at the last stop is gone; its lines were delivered or are lost");
                continue;
            };
            let len = (range.end - range.start) as usize;
            match read_range(&file, range.start, len) {
                Ok(bytes) if bytes.len() == len => {
                    let ending = Ending {
                        close_last: true,
                        take_partial: true,
                    };
                    let (records, _) = multiline::split(&bytes, range.start, ending);
                    pieces.push(Piece {
                        id: range.id,
                        path: range.path.clone(),
                        start: range.start,
                        end: range.end,
                        records,
                    });
                }
                _ => {
                    tracing::warn!(path = %range.path.display(), "a file of the batch in flight at the last stop was truncated; skipping that range")
                }
            }
        }
        Some((pending.key, pieces))
    }

    fn objects(&self, pieces: &[Piece]) -> Vec<(Value, usize)> {
        let read_at = chrono::Utc::now().to_rfc3339();
        let read_at = read_at.as_str();
        pieces
            .iter()
            .flat_map(|p| {
                let service = self
                    .options
                    .service
                    .clone()
                    .unwrap_or_else(|| service_of(&p.path));
                p.records.iter().map(move |r| {
                    let object = record_object(r, &p.path, &service, &self.host, read_at);
                    (object, r.text.len())
                })
            })
            .collect()
    }
}

/// The default service of a file: its name up to the first dot (`checkout.log.1` → `checkout`).
fn service_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .filter(|n| !n.is_empty())
        .unwrap_or("file")
        .to_string()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A leading timestamp of a plain-text line (`2026-11-29T10:00:00Z …`,
/// `2026-11-29 10:00:00,123 …`, optionally in brackets), as RFC 3339.
fn leading_timestamp(text: &str) -> Option<String> {
    let mut tokens = text.split_whitespace();
    let first = tokens.next()?.trim_start_matches('[').trim_end_matches(']');
    if !first.contains('-') || first.len() < 10 {
        return None;
    }
    let as_rfc3339 = |t: &str| {
        let t = t.replace(',', ".");
        model::parse_timestamp(&t)
            .ok()
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map(|dt| dt.to_rfc3339())
    };
    if first.contains(':') {
        return as_rfc3339(first);
    }
    let second = tokens.next()?.trim_end_matches(']');
    second
        .contains(':')
        .then(|| as_rfc3339(&format!("{first} {second}")))
        .flatten()
}

/// The log object of one record: a JSON-object line as it is, else the text as the message.
fn record_object(r: &Record, path: &Path, service: &str, host: &str, read_at: &str) -> Value {
    let file = json!({ "path": path.display().to_string(), "offset": r.start });
    if r.text.starts_with('{')
        && let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(&r.text)
    {
        map.entry("file").or_insert(file);
        let has = |map: &serde_json::Map<String, Value>, keys: &[&str]| {
            keys.iter().any(|k| map.contains_key(*k))
        };
        if !has(&map, &["service", "service.name", "app", "application"]) {
            map.insert("service".into(), Value::String(service.into()));
        }
        if !has(&map, &["host", "hostname"]) {
            map.insert("host".into(), Value::String(host.into()));
        }
        return Value::Object(map);
    }
    json!({
        "timestamp": leading_timestamp(&r.text).unwrap_or_else(|| read_at.to_string()),
        "message": r.text,
        "service": service,
        "host": host,
        "file": file,
    })
}

/// Delivers with retries until it succeeds or `stop`; `false` when stopped first.
async fn deliver<S: Sink>(
    sink: &mut S,
    objects: Vec<(Value, usize)>,
    key: &str,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = Duration::from_millis(200);
    loop {
        match sink.deliver(objects.clone(), key.to_string()).await {
            Ok(()) => return true,
            Err(SinkError::Closed(reason)) => {
                tracing::info!(%reason, "tail stops: the receiver is closing");
                return false;
            }
            Err(SinkError::Retry(reason)) => {
                tracing::warn!(%reason, retry_in_ms = backoff.as_millis() as u64, "tail delivery failed; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return false,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Fails as `run` would at its start: an unreadable state file or an invalid pattern.
pub fn check(options: &TailOptions) -> anyhow::Result<()> {
    Tailer::open(options.clone()).map(drop)
}

/// Follows the files until `stop`. Errors only when the state file cannot be read or written.
pub async fn run<S: Sink>(
    options: TailOptions,
    mut sink: S,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let poll = options.poll;
    let mut tailer = tokio::task::spawn_blocking(move || Tailer::open(options)).await??;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let (t, batch) = tokio::task::spawn_blocking(move || {
            let mut t = tailer;
            let batch = match t.replay() {
                Some(replayed) => Ok(replayed),
                None => {
                    let pieces = t.scan();
                    if pieces.is_empty() {
                        Ok((String::new(), pieces))
                    } else {
                        t.begin(&pieces).map(|key| (key, pieces))
                    }
                }
            };
            (t, batch)
        })
        .await?;
        tailer = t;
        let (key, pieces) = batch?;
        if pieces.is_empty() && key.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(poll) => continue,
                _ = stop.wait_for(|s| *s) => return Ok(()),
            }
        }
        let objects = tailer.objects(&pieces);
        let count = objects.len();
        if !objects.is_empty() && !deliver(&mut sink, objects, &key, &mut stop).await {
            return Ok(());
        }
        tracing::debug!(records = count, %key, "tail batch delivered");
        let done: Vec<(FileId, u64, u64)> = pieces.iter().map(|p| (p.id, p.start, p.end)).collect();
        tailer =
            tokio::task::spawn_blocking(move || tailer.commit(&done).map(|()| tailer)).await??;
    }
}

/// The sink of `serve --tail`: the pipeline itself.
pub struct PipelineSink(pub crate::pipeline::Pipeline);

impl Sink for PipelineSink {
    async fn deliver(
        &mut self,
        objects: Vec<(Value, usize)>,
        key: String,
    ) -> Result<(), SinkError> {
        use crate::pipeline::PipelineError;
        let received_at = chrono::Utc::now().timestamp_micros();
        let batch = normalise::json::objects_to_batch(objects, received_at, "file", "record")
            // Every object has a string message and a valid timestamp; a failure here is a bug
            // in this module, and retrying cannot fix it.
            .map_err(|e| {
                SinkError::Closed(format!("tail records are not storable: {:?}", e.errors))
            })?;
        match self.0.submit_once(batch, Some(key)).await {
            Ok(_) => Ok(()),
            Err(PipelineError::Closed) => {
                Err(SinkError::Closed("the server is shutting down".into()))
            }
            Err(err) => Err(SinkError::Retry(err.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_timestamps() {
        assert_eq!(
            leading_timestamp("2026-11-29T10:00:00.5Z ERROR x").as_deref(),
            Some("2026-11-29T10:00:00.500+00:00")
        );
        assert_eq!(
            leading_timestamp("2026-11-29 10:00:00,250 WARN y").as_deref(),
            Some("2026-11-29T10:00:00.250+00:00")
        );
        assert_eq!(
            leading_timestamp("[2026-11-29 10:00:00] z").as_deref(),
            Some("2026-11-29T10:00:00+00:00")
        );
        assert_eq!(leading_timestamp("12345 not a time"), None);
        assert_eq!(leading_timestamp("GET /index.html 200"), None);
    }

    #[test]
    fn json_lines_stay_structured() {
        let r = Record {
            start: 7,
            end: 60,
            text: r#"{"level":"error","msg":"db down","service":"api"}"#.into(),
        };
        let o = record_object(&r, Path::new("/l/x.log"), "x", "h1", "2026-01-01T00:00:00Z");
        assert_eq!(o["service"], "api");
        assert_eq!(o["host"], "h1");
        assert_eq!(o["file"]["offset"], 7);
        let r = Record {
            start: 0,
            end: 9,
            text: "plain text".into(),
        };
        let o = record_object(&r, Path::new("/l/x.log"), "x", "h1", "2026-01-01T00:00:00Z");
        assert_eq!(o["message"], "plain text");
        assert_eq!(o["timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(service_of(Path::new("/var/log/checkout.log.1")), "checkout");
    }

    /// Deliveries seen: key and messages.
    type Delivered = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<String>)>>>;

    /// A sink that fails its first `fail` deliveries, then keeps what it gets.
    struct Memory {
        fail: usize,
        got: Delivered,
    }

    impl Sink for Memory {
        async fn deliver(
            &mut self,
            objects: Vec<(Value, usize)>,
            key: String,
        ) -> Result<(), SinkError> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(SinkError::Retry("down".into()));
            }
            let messages = objects
                .iter()
                .map(|(o, _)| o["message"].as_str().unwrap_or_default().to_string())
                .collect();
            self.got.lock().unwrap().push((key, messages));
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_batch_pending_at_a_crash_is_delivered_again_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        std::fs::write(&log, "one\ntwo\n").unwrap();
        let state = dir.path().join("state.json");
        let mut options = TailOptions::new(
            vec![format!("{}/*.log", dir.path().display())],
            state.clone(),
        );
        options.linger = Duration::ZERO;

        // A run that reads, marks the batch pending, and "crashes" before the commit.
        let mut first = Tailer::open(options.clone()).unwrap();
        let pieces = first.scan();
        let key = first.begin(&pieces).unwrap();
        drop(first);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"three\n")
            .unwrap();

        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Memory {
            fail: 2,
            got: got.clone(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(options, sink, stop_rx));
        let deadline = Instant::now() + Duration::from_secs(20);
        while got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.len())
            .sum::<usize>()
            < 3
        {
            assert!(Instant::now() < deadline, "{:?}", got.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop_tx.send(true).unwrap();
        task.await.unwrap().unwrap();
        let got = got.lock().unwrap().clone();
        assert_eq!(
            got[0],
            (key, vec!["one".to_string(), "two".to_string()]),
            "the same batch, the same key"
        );
        assert_eq!(got[1].1, ["three"]);
        assert_eq!(got.len(), 2);
        let saved: Saved = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert!(saved.pending.is_none());
        assert_eq!(saved.files[0].offset, 14);
    }
}
