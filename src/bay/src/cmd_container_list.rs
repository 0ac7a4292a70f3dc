//! `ps`/`container ls`, `inspect` (containers, then images) and `container prune`.

use std::io::BufRead;

use anyhow::{anyhow, bail, Result};
use bay_engine::container::{Container, ContainerError, Status};
use bay_engine::Engine;

use crate::format::{escape_html, tabwrite, Template};
use crate::units::{human_duration, human_size, since};
use crate::{Exit, InspectArgs, PruneCArgs, PsArgs};

fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Go's strconv.Quote, for ps's COMMAND column.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn epoch(t: &str) -> i64 {
    bay_engine::timefmt::parse_rfc3339(t)
        .map(|x| x.0)
        .unwrap_or(0)
}

fn now_secs() -> i64 {
    bay_engine::timefmt::now().0
}

/// ps's STATUS: `Up 2 seconds`, `Exited (0) 5 seconds ago`, `Created`.
fn status_text(c: &Container) -> String {
    match c.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", human_duration(now_secs() - epoch(&c.started_at))),
        Status::Paused => format!(
            "Up {} (Paused)",
            human_duration(now_secs() - epoch(&c.started_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.exit_code,
            human_duration(now_secs() - epoch(&c.finished_at))
        ),
        Status::Dead => "Dead".into(),
    }
}

fn image_shown(engine: &Engine, c: &Container) -> String {
    match engine.resolve(&c.image_name) {
        Ok(img) if img.id == c.image => c.image_name.clone(),
        _ => c.image.short().to_string(),
    }
}

fn matches_filters(c: &Container, filters: &[(String, String)]) -> bool {
    // Same key: any value may match; different keys: all must.
    let mut keys: Vec<&str> = filters.iter().map(|f| f.0.as_str()).collect();
    keys.dedup();
    keys.iter().all(|k| {
        filters
            .iter()
            .filter(|f| f.0 == *k)
            .any(|(k, v)| match k.as_str() {
                "status" => c.status.as_str() == v,
                "name" => c.name.contains(v.trim_start_matches('/')),
                "id" => c.id.starts_with(v.as_str()),
                "label" => {
                    let labels = c.labels();
                    match v.split_once('=') {
                        Some((lk, lv)) => labels.get(lk).is_some_and(|x| x == lv),
                        None => labels.contains_key(v.as_str()),
                    }
                }
                "exited" => c.status == Status::Exited && c.exit_code.to_string() == *v,
                _ => false,
            })
    })
}

pub fn ps(engine: &Engine, a: PsArgs) -> Result<()> {
    let mut filters = Vec::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        if !matches!(k, "status" | "name" | "id" | "label" | "exited") {
            bail!("invalid filter '{k}'");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let mut list: Vec<Container> = engine
        .containers()?
        .into_iter()
        .map(|c| engine.refresh(c))
        .collect();
    let limit = if a.latest {
        Some(1)
    } else {
        a.last.filter(|n| *n > 0)
    };
    let all = a.all || limit.is_some();
    list.retain(|c| (all || c.status.is_up()) && matches_filters(c, &filters));
    if let Some(n) = limit {
        list.truncate(n as usize);
    }
    if a.quiet {
        for c in &list {
            println!("{}", if a.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|c| {
            let cmd = c.command();
            serde_json::json!({
                "ID": if a.no_trunc { c.id.clone() } else { c.short_id().to_string() },
                "Image": image_shown(engine, c),
                "Command": go_quote(&if a.no_trunc { cmd } else { ellipsis(&cmd, 20) }),
                "CreatedAt": bay_engine::timefmt::format_go_utc(epoch(&c.created)),
                "RunningFor": since(epoch(&c.created)).trim_end_matches(" ago").to_string(),
                "Ports": engine.ports_text(c),
                "State": c.status.as_str(),
                "Status": status_text(c),
                "Size": "",
                "Names": c.name,
                "Labels": c.labels().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Mounts": c.all_mounts().iter().map(|m| m.target.clone()).collect::<Vec<_>>().join(","),
                "Networks": engine.container_network_names(c),
            })
        })
        .collect();
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        let mut out = String::new();
        if t.table {
            let header = Template::parse(f)
                .map_err(|e| anyhow!(e))?
                .render(&header_value())
                .map_err(|e| anyhow!(e))?;
            out.push_str(&header);
            out.push('\n');
        }
        for r in &rows {
            out.push_str(&t.render(r).map_err(|e| anyhow!(e))?);
            out.push('\n');
        }
        print!("{}", if t.table { tabwrite(&out) } else { out });
        return Ok(());
    }
    let mut out = String::from("CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n");
    for (r, c) in rows.iter().zip(&list) {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            r["ID"].as_str().unwrap_or_default(),
            r["Image"].as_str().unwrap_or_default(),
            r["Command"].as_str().unwrap_or_default(),
            since(epoch(&c.created)),
            r["Status"].as_str().unwrap_or_default(),
            r["Ports"].as_str().unwrap_or_default(),
            c.name
        ));
    }
    print!("{}", tabwrite(&out));
    Ok(())
}

fn header_value() -> serde_json::Value {
    serde_json::json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
        "Networks": "NETWORKS",
    })
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Inspected {
    Container(Box<bay_engine::container::inspect::ContainerInspect>),
    Image(Box<bay_engine::images::ImageInspect>),
}

/// `inspect`: containers first, then images, as docker resolves names; `--type` narrows.
pub fn inspect(engine: &Engine, a: InspectArgs) -> Result<()> {
    let kind = a.kind.as_deref();
    if let Some(k) = kind {
        if k != "image" && k != "container" {
            bail!("{k:?} is not a valid value for --type");
        }
    }
    if a.size && kind != Some("image") {
        bail!("--size is not supported yet for containers");
    }
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        if kind != Some("image") {
            match engine.inspect_container(n) {
                Ok(v) => {
                    values.push(Inspected::Container(Box::new(v)));
                    continue;
                }
                Err(ContainerError::NoSuchContainer(_)) => {}
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            }
        }
        if kind == Some("container") {
            errors.push(format!("No such container: {n}"));
            continue;
        }
        match engine.inspect_image(n) {
            Ok(v) => values.push(Inspected::Image(Box::new(v))),
            Err(bay_engine::Error::NoSuchImage(_)) => errors.push(if kind.is_some() {
                format!("No such image: {n}")
            } else {
                format!("No such object: {n}")
            }),
            Err(e) => errors.push(e.to_string()),
        }
    }
    match &a.format {
        None => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&values, &mut ser)?;
            let s = if values.is_empty() {
                "[]".to_string()
            } else {
                String::from_utf8(buf)?
            };
            println!("{}", escape_html(&s));
        }
        Some(f) => {
            let t = Template::parse(f).map_err(|e| anyhow!(e))?;
            let mut out = String::new();
            for v in &values {
                out.push_str(
                    &t.render(&serde_json::to_value(v)?)
                        .map_err(|e| anyhow!(e))?,
                );
                out.push('\n');
            }
            print!("{out}");
        }
    }
    for e in &errors {
        eprintln!("Error: {e}");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Exit(1).into())
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

pub fn prune(engine: &Engine, a: PruneCArgs) -> Result<()> {
    if !a.filter.is_empty() {
        bail!("container prune filters are not supported yet");
    }
    if !a.force {
        eprint!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let sizes: std::collections::HashMap<String, u64> = engine
        .containers()?
        .iter()
        .map(|c| (c.id.clone(), dir_size(&engine.rootfs_paths(&c.id).upper)))
        .collect();
    let gone = engine.prune_containers()?;
    let mut reclaimed = 0;
    if !gone.is_empty() {
        println!("Deleted Containers:");
        for id in &gone {
            println!("{id}");
            reclaimed += sizes.get(id).copied().unwrap_or(0);
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(())
}
