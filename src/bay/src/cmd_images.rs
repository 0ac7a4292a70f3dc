//! `images`, `tag`, `rmi`, `inspect`, `history`, `image prune`, `system df`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::{anyhow, bail, Result};
use bay_engine::images::{ImageSummary, RemoveEvent};
use bay_engine::{Engine, Reference};
use serde_json::{json, Value};

use crate::format::{escape_html, tabwrite, Template};
use crate::units::{human_size, human_size_prec, since};
use crate::{
    DfArgs, Exit, HistoryArgs, ImageInspectArgs, ImagesArgs, InspectArgs, PruneArgs, RmiArgs,
    SearchArgs, TagArgs,
};

fn daemon(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(bay_engine::Error::InvalidArgument(msg.into()))
}

fn parse_filters(raw: &[String]) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_lowercase(), v.to_string()))
                .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))
        })
        .collect()
}

/// Glob match as Go's `path.Match`: `*` and `?` do not cross `/`.
fn glob(pat: &str, s: &str) -> bool {
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != '/')
                .any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && s[0] != '/' && m(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return false;
                };
                let Some(&c) = s.first() else { return false };
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &s[1..])
            }
            Some('\\') if p.len() > 1 => !s.is_empty() && s[0] == p[1] && m(&p[2..], &s[1..]),
            Some(&c) => !s.is_empty() && s[0] == c && m(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    m(&p, &s)
}

/// docker's `reference.FamiliarMatch`: the pattern against `name` and `name:tag`.
fn reference_matches(pattern: &str, r: &Reference) -> bool {
    glob(pattern, &r.familiar_name()) || glob(pattern, &r.familiar())
}

struct Row {
    id: String,
    repo: String,
    tag: String,
    digest: String,
    img: ImageSummary,
}

fn short_or_full(id: &bay_engine::Digest, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.short().to_string()
    }
}

pub fn images(engine: &Engine, a: ImagesArgs) -> Result<()> {
    let filters = parse_filters(&a.filter)?;
    let mut patterns: Vec<String> = Vec::new();
    let mut dangling: Option<bool> = None;
    let mut before: Option<i64> = None;
    let mut since_t: Option<i64> = None;
    let mut labels: Vec<(String, Option<String>)> = Vec::new();
    for (k, v) in &filters {
        match k.as_str() {
            "dangling" => {
                dangling = Some(match v.to_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(daemon(format!("invalid filter 'dangling={v}'"))),
                })
            }
            "reference" => patterns.push(v.clone()),
            "before" => before = Some(created_of(engine, v)?),
            "since" => since_t = Some(created_of(engine, v)?),
            "label" => labels.push(match v.split_once('=') {
                Some((k, val)) => (k.to_string(), Some(val.to_string())),
                None => (v.clone(), None),
            }),
            _ => return Err(daemon(format!("invalid filter '{k}'"))),
        }
    }
    if let Some(r) = &a.reference {
        patterns.push(r.clone());
    }
    let mut rows = Vec::new();
    for mut img in engine.list_images()? {
        let untagged = img.repo_tags.is_empty() && img.repo_digests.is_empty();
        // An untagged image with children is a build's intermediate image: only `-a` lists
        // it, and it is never dangling.
        if untagged && img.children > 0 && (!a.all || dangling == Some(true)) {
            continue;
        }
        if let Some(d) = dangling {
            if d != img.repo_tags.is_empty() {
                continue;
            }
        }
        if before.is_some_and(|t| img.created >= t) || since_t.is_some_and(|t| img.created <= t) {
            continue;
        }
        if !labels.iter().all(|(k, v)| match (img.labels.get(k), v) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            _ => false,
        }) {
            continue;
        }
        if !patterns.is_empty() {
            img.repo_tags
                .retain(|r| patterns.iter().any(|p| reference_matches(p, r)));
            if img.repo_tags.is_empty() {
                continue;
            }
        }
        // Group references per repository, as docker's table does.
        let mut repos: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for t in &img.repo_tags {
            repos
                .entry(t.familiar_name())
                .or_default()
                .0
                .push(t.tag.clone().unwrap_or_default());
        }
        for d in &img.repo_digests {
            if patterns.is_empty() || repos.contains_key(&d.familiar_name()) {
                repos
                    .entry(d.familiar_name())
                    .or_default()
                    .1
                    .push(d.digest.as_ref().map(|x| x.to_string()).unwrap_or_default());
            }
        }
        let id = short_or_full(&img.id, a.no_trunc);
        if repos.is_empty() {
            rows.push(Row {
                id,
                repo: "<none>".into(),
                tag: "<none>".into(),
                digest: "<none>".into(),
                img,
            });
            continue;
        }
        for (repo, (tags, digests)) in repos {
            let digest = digests.first().cloned().unwrap_or_else(|| "<none>".into());
            if tags.is_empty() {
                rows.push(Row {
                    id: id.clone(),
                    repo: repo.clone(),
                    tag: "<none>".into(),
                    digest: digest.clone(),
                    img: img.clone(),
                });
            }
            for t in tags {
                rows.push(Row {
                    id: id.clone(),
                    repo: repo.clone(),
                    tag: t,
                    digest: digest.clone(),
                    img: img.clone(),
                });
            }
        }
    }
    let mut out = String::new();
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            if seen.insert(r.id.clone()) {
                out.push_str(&r.id);
                out.push('\n');
            }
        }
        print!("{out}");
        return Ok(());
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let tmpl = Template::parse(a.format.as_deref().unwrap_or(default)).map_err(|e| anyhow!(e))?;
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "Containers": "N/A",
                "CreatedAt": bay_engine::timefmt::format_go_utc(r.img.created),
                "CreatedSince": since(r.img.created),
                "Digest": r.digest,
                "ID": r.id,
                "Repository": r.repo,
                "SharedSize": "N/A",
                "Size": human_size_prec(r.img.size, 3),
                "Tag": r.tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size_prec(r.img.size, 3),
            })
        })
        .collect();
    let headers = json!({
        "Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED", "Digest": "DIGEST",
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "SharedSize": "SHARED SIZE", "Size": "SIZE", "Tag": "TAG",
        "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
    });
    print_rows(&tmpl, &headers, &values)
}

/// Renders rows; `table` formats get a header and tabwriter alignment.
fn print_rows(tmpl: &Template, headers: &Value, values: &[Value]) -> Result<()> {
    let mut text = String::new();
    if tmpl.table {
        text.push_str(&tmpl.render(headers).map_err(|e| anyhow!(e))?);
        text.push('\n');
    }
    for v in values {
        text.push_str(&tmpl.render(v).map_err(|e| anyhow!(e))?);
        text.push('\n');
    }
    let text = if tmpl.table { tabwrite(&text) } else { text };
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())?;
    Ok(())
}

fn created_of(engine: &Engine, name: &str) -> Result<i64> {
    let img = engine.resolve(name)?;
    Ok(bay_engine::timefmt::parse_rfc3339(&img.created)
        .map(|t| t.0)
        .unwrap_or(0))
}

pub fn tag(engine: &Engine, a: TagArgs) -> Result<()> {
    if let Err(e) = Reference::parse(&a.target) {
        bail!(
            "Error parsing reference: {:?} is not a valid repository/tag: {e}",
            a.target
        );
    }
    engine.tag(&a.source, &a.target)?;
    Ok(())
}

fn print_events(events: &[RemoveEvent], lower: bool) -> String {
    let mut s = String::new();
    for e in events {
        let (word, what) = match e {
            RemoveEvent::Untagged(n) => ("Untagged", n.clone()),
            RemoveEvent::Deleted(d) => ("Deleted", d.to_string()),
        };
        let word = if lower {
            word.to_lowercase()
        } else {
            word.to_string()
        };
        s.push_str(&format!("{word}: {what}\n"));
    }
    s
}

pub fn rmi(engine: &Engine, a: RmiArgs) -> Result<()> {
    let mut failed = false;
    for name in &a.images {
        match engine.remove_image(name, a.force) {
            Ok(events) => print!("{}", print_events(&events, false)),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

fn print_json_array<T: serde::Serialize>(values: &[T]) -> Result<()> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(&values, &mut ser)?;
    let s = String::from_utf8(buf)?;
    let s = if values.is_empty() {
        "[]".to_string()
    } else {
        s
    };
    println!("{}", escape_html(&s));
    Ok(())
}

fn inspect_out<T: serde::Serialize>(values: Vec<T>, format: Option<&str>) -> Result<()> {
    match format {
        None => print_json_array(&values),
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
            Ok(())
        }
    }
}

/// `inspect`: images only for now; docker prints what it found, then the errors.
pub fn inspect(engine: &Engine, a: InspectArgs) -> Result<()> {
    if let Some(k) = &a.kind {
        if k != "image" {
            bail!("{k:?} is not a valid value for --type");
        }
    }
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match engine.inspect_image(n) {
            Ok(v) => values.push(v),
            Err(bay_engine::Error::NoSuchImage(_)) => errors.push(if a.kind.is_some() {
                format!("No such image: {n}")
            } else {
                format!("No such object: {n}")
            }),
            Err(e) => errors.push(e.to_string()),
        }
    }
    inspect_out(values, a.format.as_deref())?;
    for e in &errors {
        eprintln!("Error: {e}");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Exit(1).into())
    }
}

pub fn image_inspect(engine: &Engine, a: ImageInspectArgs) -> Result<()> {
    inspect(
        engine,
        InspectArgs {
            format: a.format,
            kind: Some("image".into()),
            size: false,
            names: a.names,
        },
    )
}

fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

pub fn history(engine: &Engine, a: HistoryArgs) -> Result<()> {
    let entries = engine.history(&a.image)?;
    if a.quiet {
        for e in &entries {
            println!(
                "{}",
                e.id.as_ref()
                    .map(|d| short_or_full(d, a.no_trunc))
                    .unwrap_or_else(|| "<missing>".into())
            );
        }
        return Ok(());
    }
    let default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    let tmpl = Template::parse(a.format.as_deref().unwrap_or(default)).map_err(|e| anyhow!(e))?;
    let values: Vec<Value> = entries
        .iter()
        .map(|e| {
            let created_by = e.created_by.replace(['\t', '\n'], " ");
            json!({
                "ID": e.id.as_ref().map(|d| short_or_full(d, a.no_trunc)).unwrap_or_else(|| "<missing>".into()),
                "CreatedSince": if a.human { since(e.created) } else { bay_engine::timefmt::format_rfc3339(e.created, 0) },
                "CreatedAt": bay_engine::timefmt::format_rfc3339(e.created, 0),
                "CreatedBy": if a.no_trunc { created_by } else { ellipsis(&created_by, 45) },
                "Size": if a.human { human_size_prec(e.size, 3) } else { e.size.to_string() },
                "Comment": e.comment,
                "Tags": e.tags.join(", "),
            })
        })
        .collect();
    let headers = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
        "Size": "SIZE", "Comment": "COMMENT", "Tags": "TAGS"});
    print_rows(&tmpl, &headers, &values)
}

fn confirm(prompt: &str) -> Result<bool> {
    print!("{prompt} [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// `until=` as docker takes it: a duration before now (`24h`, `90m`, `1h30m`), an RFC 3339
/// time, or Unix seconds.
fn parse_until(v: &str) -> Option<i64> {
    if let Ok(secs) = v.parse::<i64>() {
        return Some(secs);
    }
    if let Some((s, _)) = bay_engine::timefmt::parse_rfc3339(v) {
        return Some(s);
    }
    let mut total = 0i64;
    let mut num = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
    }
    if !num.is_empty() || total == 0 {
        return None;
    }
    Some(bay_engine::timefmt::now().0 - total)
}

pub fn prune(engine: &Engine, a: PruneArgs) -> Result<()> {
    let mut until: Option<i64> = None;
    let mut labels: Vec<(String, Option<String>, bool)> = Vec::new();
    for (k, v) in parse_filters(&a.filter)? {
        match k.as_str() {
            "until" => {
                until = Some(
                    parse_until(&v).ok_or_else(|| daemon(format!("invalid filter 'until={v}'")))?,
                )
            }
            "label" | "label!" => {
                let (lk, lv) = match v.split_once('=') {
                    Some((x, y)) => (x.to_string(), Some(y.to_string())),
                    None => (v.clone(), None),
                };
                labels.push((lk, lv, k == "label"));
            }
            _ => return Err(daemon(format!("invalid filter '{k}'"))),
        }
    }
    // `label!=k=v` arrives as key "label!" since the filter splits at the first '='.
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !confirm(&format!("{warning}\nAre you sure you want to continue?"))? {
            return Ok(());
        }
    }
    let keep = |img: &ImageSummary| {
        if until.is_some_and(|t| img.created >= t) {
            return true;
        }
        labels.iter().any(|(k, v, must)| {
            let has = match (img.labels.get(k), v) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                _ => false,
            };
            has != *must
        })
    };
    let (events, reclaimed) = engine.prune_images(a.all, &keep)?;
    if !events.is_empty() {
        println!("Deleted Images:");
        print!("{}", print_events(&events, true));
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(())
}

pub fn df(engine: &Engine, a: DfArgs) -> Result<()> {
    if a.verbose {
        bail!("system df --verbose is not supported yet");
    }
    let u = engine.disk_usage()?;
    let pct = |r: u64, t: u64| match (100 * r).checked_div(t) {
        Some(p) => format!("{} ({p}%)", human_size(r)),
        None => human_size(r),
    };
    let rows = vec![
        json!({"Type": "Images", "TotalCount": u.images.to_string(), "Active": u.active.to_string(), "Size": human_size(u.size), "Reclaimable": pct(u.reclaimable, u.size)}),
        json!({"Type": "Containers", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
    ];
    let default = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
    let tmpl = Template::parse(a.format.as_deref().unwrap_or(default)).map_err(|e| anyhow!(e))?;
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    print_rows(&tmpl, &headers, &rows)
}

pub fn search(engine: &Engine, a: SearchArgs) -> Result<()> {
    let mut stars = 0u64;
    let mut official: Option<bool> = None;
    let mut automated: Option<bool> = None;
    for (k, v) in parse_filters(&a.filter)? {
        let flag = || match v.to_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(daemon(format!("invalid filter '{k}={v}'"))),
        };
        match k.as_str() {
            "stars" => {
                stars = v
                    .parse()
                    .map_err(|_| daemon(format!("invalid filter 'stars={v}'")))?
            }
            "is-official" => official = Some(flag()?),
            "is-automated" => automated = Some(flag()?),
            _ => return Err(daemon(format!("invalid filter '{k}'"))),
        }
    }
    let results = engine.search(&a.term, a.limit)?;
    let values: Vec<Value> = results
        .iter()
        .filter(|r| r.star_count >= stars)
        .filter(|r| official.is_none_or(|o| o == r.is_official))
        .filter(|r| automated.is_none_or(|o| o == r.is_automated))
        .map(|r| {
            let desc = r.description.replace('\n', " ");
            json!({
                "Name": r.name,
                "Description": if a.no_trunc { desc } else { ellipsis(&desc, 45) },
                "StarCount": r.star_count.to_string(),
                "IsOfficial": if r.is_official { "[OK]" } else { "" },
                "IsAutomated": if r.is_automated { "[OK]" } else { "" },
            })
        })
        .collect();
    let default =
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}";
    let tmpl = Template::parse(a.format.as_deref().unwrap_or(default)).map_err(|e| anyhow!(e))?;
    let headers = json!({"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"});
    print_rows(&tmpl, &headers, &values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_path_match() {
        assert!(glob("busy*", "busybox"));
        assert!(!glob("*", "a/b"));
        assert!(glob("*/*", "a/b"));
        assert!(glob("b?sybox:[a-z]*", "busybox:latest"));
    }
}
