//! `berth events`: runc's `{"type","id","data"}` lines on stdout. Stats every --interval (or
//! once with --stats) and an "oom" event for each OOM kill, until the container's cgroup is
//! gone.

use crate::Global;
use anyhow::{bail, Context};
use berth_runtime::cgroups::{OomWait, Stats};
use berth_runtime::state::{Container, Status};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Set the stats collection interval (Go duration: 5s, 500ms, 1m30s)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// Container id
    pub id: String,
}

/// runc's types.Event, fields in runc's order.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    typ: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Stats>,
}

/// A Go duration ("300ms", "1.5s", "1h2m"); a bare "0" is zero.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let bad = || anyhow::anyhow!("invalid duration {s:?} for --interval");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[u..];
    }
    Ok(Duration::from_secs_f64(total))
}

fn emit(typ: &str, id: &str, data: Option<&Stats>) -> anyhow::Result<()> {
    let line = serde_json::to_string(&Event { typ, id, data })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").context("write event")?;
    out.flush().context("write event")
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let interval = parse_duration(&a.interval)?;
    if interval.is_zero() {
        bail!("duration interval must be greater than 0");
    }
    let c = Container::load(&g.root, &a.id)?;
    if c.status() == Status::Stopped {
        bail!("container with id {} is not running", a.id);
    }
    let cg = c.cgroup()?;
    drop(c);
    if a.stats {
        let s = cg
            .stats()
            .with_context(|| format!("stats of container {}", a.id))?;
        emit("stats", &a.id, Some(&s))?;
        return Ok(0);
    }
    let mut oom = cg
        .oom_notifier()
        .with_context(|| format!("watch OOM events of container {}", a.id))?;
    let mut next = Instant::now() + interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match oom.wait(Some(wait))? {
            OomWait::Gone => return Ok(0),
            OomWait::Oom(n) => {
                for _ in 0..n {
                    emit("oom", &a.id, None)?;
                }
            }
            OomWait::Timeout => {}
        }
        if Instant::now() >= next {
            next += interval;
            if !cg.exists() {
                return Ok(0);
            }
            // Like runc, a failed read is logged and the next tick tried.
            match cg.stats() {
                Ok(s) => emit("stats", &a.id, Some(&s))?,
                Err(e) => crate::log::error(&format!("stats of container {}: {e}", a.id)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1x").is_err());
    }
}
