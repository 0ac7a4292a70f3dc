//! docker's json-file log: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`.
//! The monitor writes it; `logs` reads (and follows) it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::error::{ContainerError, Result};
use crate::engine::Engine;

/// Lines longer than this are split into several entries, as docker does.
const MAX_LINE: usize = 16 * 1024;

/// A JSON string the way Go's encoding/json writes it (HTML characters and U+2028/9
/// escaped, invalid UTF-8 already replaced by U+FFFD).
pub fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

pub fn entry_line(log: &[u8], stream: &str) -> String {
    let (s, n) = crate::timefmt::now();
    let mut out = String::with_capacity(log.len() + 64);
    out.push_str("{\"log\":");
    go_string(&String::from_utf8_lossy(log), &mut out);
    out.push_str(",\"stream\":\"");
    out.push_str(stream);
    out.push_str("\",\"time\":\"");
    out.push_str(&crate::timefmt::format_rfc3339(s, n));
    out.push_str("\"}\n");
    out
}

/// Copies one of the container's streams into the log (and to `tee`, if attached) until
/// EOF. Write errors on `tee` detach it; the log keeps going.
pub fn pump(
    mut src: impl Read,
    stream: &'static str,
    sink: Arc<Mutex<File>>,
    mut tee: Option<File>,
    clients: super::attach::Clients,
) {
    let id = if stream == "stderr" { 2 } else { 1 };
    let mut buf = vec![0u8; 32 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let write = |chunk: &[u8]| {
        let line = entry_line(chunk, stream);
        if let Ok(mut f) = sink.lock() {
            let _ = f.write_all(line.as_bytes());
        }
    };
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if let Some(t) = tee.as_mut() {
            if t.write_all(&buf[..n]).is_err() {
                tee = None;
            }
        }
        clients.send(id, &buf[..n]);
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(i) = pending[start..].iter().position(|&b| b == b'\n') {
            write(&pending[start..start + i + 1]);
            start += i + 1;
        }
        pending.drain(..start);
        while pending.len() >= MAX_LINE {
            write(&pending[..MAX_LINE]);
            pending.drain(..MAX_LINE);
        }
    }
    if !pending.is_empty() {
        write(&pending);
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only entries at or after this time (epoch seconds, nanos).
    pub since: Option<(i64, u32)>,
    /// Only entries before this time.
    pub until: Option<(i64, u32)>,
}

impl Engine {
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// Calls `out` for each log entry of the container; with `follow`, keeps reading until
    /// the container is no longer running (or is removed).
    pub fn read_logs(
        &self,
        id: &str,
        opts: &LogOptions,
        out: &mut dyn FnMut(&LogEntry) -> io::Result<()>,
    ) -> Result<()> {
        let path = self.log_path(id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !opts.follow {
                    return Ok(());
                }
                // Not started yet: the monitor creates the log.
                loop {
                    std::thread::sleep(Duration::from_millis(50));
                    if let Ok(f) = File::open(&path) {
                        break f;
                    }
                    match self.container_by_id(id)? {
                        Some(c) if c.status.is_up() || c.status == super::Status::Created => {}
                        _ => return Ok(()),
                    }
                }
            }
            Err(e) => return Err(ContainerError::io(format!("opening {}", path.display()), e)),
        };
        let keep = |e: &LogEntry| {
            let t = crate::timefmt::parse_rfc3339(&e.time).unwrap_or((0, 0));
            opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t < u)
        };
        let mut reader = BufReader::new(file);
        let mut entries = Vec::new();
        let mut partial = String::new();
        read_complete(&mut reader, &mut partial, &mut entries)?;
        let mut entries: Vec<LogEntry> = entries.into_iter().filter(|e| keep(e)).collect();
        if let Some(n) = opts.tail {
            let skip = entries.len().saturating_sub(n);
            entries.drain(..skip);
        }
        let emit =
            |e: &LogEntry, out: &mut dyn FnMut(&LogEntry) -> io::Result<()>| -> Result<bool> {
                match out(e) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
                    Err(e) => Err(ContainerError::io("writing logs", e)),
                }
            };
        for e in &entries {
            if !emit(e, out)? {
                return Ok(());
            }
        }
        if !opts.follow {
            return Ok(());
        }
        loop {
            let running = matches!(self.container_by_id(id)?, Some(c) if c.status.is_up());
            let mut more = Vec::new();
            read_complete(&mut reader, &mut partial, &mut more)?;
            for e in more.iter().filter(|e| keep(e)) {
                if !emit(e, out)? {
                    return Ok(());
                }
            }
            if !running {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Reads whole lines available now; a trailing partial line waits in `partial`.
fn read_complete(
    r: &mut BufReader<File>,
    partial: &mut String,
    out: &mut Vec<LogEntry>,
) -> Result<()> {
    loop {
        let mut line = String::new();
        let n = r
            .read_line(&mut line)
            .map_err(|e| ContainerError::io("reading the log", e))?;
        if n == 0 {
            return Ok(());
        }
        partial.push_str(&line);
        if !partial.ends_with('\n') {
            return Ok(());
        }
        if let Ok(e) = serde_json::from_str::<LogEntry>(partial.trim_end()) {
            out.push(e);
        }
        partial.clear();
    }
}

/// Opens (creating) a log for appending.
pub fn open_log(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let mut s = String::new();
        go_string("a<b>&\"\\\n\u{1}", &mut s);
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"\\\n\u0001""#);
    }
}
