//! runc-compatible logging: `--log FILE` and `--log-format text|json`. containerd parses the
//! JSON lines (`{"level","msg","time"}`) of the log file to report runtime errors.

use std::io::Write;
use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Debug)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<std::fs::File>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

pub fn init(path: Option<&str>, format: Format, debug: bool) -> anyhow::Result<()> {
    let file = match path {
        Some(p) if !p.is_empty() => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| anyhow::anyhow!("open log file {p}: {e}"))?,
        ),
        _ => None,
    };
    let _ = LOGGER.set(Logger {
        file,
        format,
        debug,
    });
    // The runtime's own warnings (skipped capabilities, relative mount destinations) go
    // where runc's go: the log file, else stderr.
    berth_runtime::warn::set_hook(warn);
    Ok(())
}

fn now() -> String {
    let t = std::time::SystemTime::now();
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| std::time::UNIX_EPOCH + std::time::Duration::from_secs(d.as_secs()))
        .unwrap_or(t);
    berth_runtime::time::rfc3339_nano(secs)
}

fn line(format: Format, level: &str, msg: &str) -> String {
    match format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({"level": level, "msg": msg, "time": now()})
        ),
        Format::Text => format!("time={:?} level={level} msg={msg:?}\n", now()),
    }
}

fn emit(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else {
        eprintln!("berth: {msg}");
        return;
    };
    if let Some(mut f) = l.file.as_ref() {
        let _ = f.write_all(line(l.format, level, msg).as_bytes());
    } else if level != "error" {
        let _ = std::io::stderr().write_all(line(l.format, level, msg).as_bytes());
    }
}

/// Logs an error to the log file (if any) and always prints it to stderr as one line.
pub fn error(msg: &str) {
    emit("error", msg);
    eprintln!("berth: {msg}");
}

/// A warning: logged (level "warning", as logrus names it), the command goes on.
pub fn warn(msg: &str) {
    emit("warning", msg);
}

pub fn debug(msg: &str) {
    if LOGGER.get().is_some_and(|l| l.debug) {
        emit("debug", msg);
    }
}
