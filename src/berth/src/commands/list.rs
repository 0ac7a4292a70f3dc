use crate::Global;
use berth_runtime::state::{list_ids, Container, OciState};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format: table or json
    #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Print only container ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

fn owner_name(uid: u32) -> String {
    nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("#{uid}"))
}

/// text/tabwriter with runc's settings (minwidth 12, padding 3): every column but the last is
/// padded to its widest cell plus 3, at least 12.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count() + 3).max(12);
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == cols {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    use std::os::unix::fs::MetadataExt;
    let mut states: Vec<OciState> = Vec::new();
    for id in list_ids(&g.root)? {
        // A container still being created (or gone meanwhile) is not listed.
        let Ok(c) = Container::load(&g.root, &id) else {
            continue;
        };
        let mut s = c.oci_state();
        s.owner = std::fs::metadata(&c.dir)
            .map(|m| owner_name(m.uid()))
            .unwrap_or_default();
        states.push(s);
    }
    if a.quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(0);
    }
    if a.format == "json" {
        if states.is_empty() {
            println!("null");
        } else {
            println!("{}", serde_json::to_string(&states)?);
        }
        return Ok(0);
    }
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(String::from)
        .to_vec()];
    for s in states {
        rows.push(vec![
            s.id,
            s.pid.to_string(),
            s.status.to_string(),
            s.bundle,
            s.created,
            s.owner,
        ]);
    }
    print!("{}", table(&rows));
    Ok(0)
}
