use crate::Global;
use berth_runtime::state::{Container, Status};
use serde_json::json;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Interval between stats reports, e.g. 5s, 500ms
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Print the stats once and exit
    #[arg(long)]
    pub stats: bool,
    /// Container id
    pub id: String,
}

fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid --interval {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => anyhow::bail!("invalid --interval {s:?}: unit must be ms, s, m or h"),
    };
    if secs <= 0.0 {
        anyhow::bail!("invalid --interval {s:?}: must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let interval = parse_duration(&a.interval)?;
    loop {
        let c = Container::load(&g.root, &a.id)?;
        if c.status() == Status::Stopped {
            anyhow::bail!("container {} is stopped", a.id);
        }
        let stats = c.cgroup()?.stats()?;
        drop(c);
        println!("{}", json!({"type": "stats", "id": a.id, "data": stats}));
        if a.stats {
            return Ok(0);
        }
        std::thread::sleep(interval);
    }
}
