//! Container verbs: run, create, start, stop, restart, kill, rm, ps, logs, wait, inspect,
//! container prune, and the hidden monitor verb. Output, messages and exit codes follow
//! docker's CLI.

use std::io::{BufRead, Write};

use anyhow::{anyhow, bail, Result};
use bay_engine::container::lifecycle::Started;
use bay_engine::container::logs::{LogEntry, LogOptions};
use bay_engine::container::monitor::Attach;
use bay_engine::container::{Container, ContainerError, CreateOptions, Status};
use bay_engine::registry::pull::PullOptions;
use bay_engine::registry::{Progress, Status as LayerStatus};
use bay_engine::{Engine, Reference};

use crate::format::{escape_html, tabwrite, Template};
use crate::units::{human_duration, human_size, since};
use crate::{
    AttachArgs, CreateArgs, ExecArgs, Exit, ExportArgs, InspectArgs, KillArgs, LogsArgs,
    MonitorArgs, NamesArgs, OneArgs, PortArgs, PruneCArgs, PsArgs, RenameArgs, RmArgs, StartArgs,
    StopArgs, TopArgs,
};

/// docker's `docker: Error response from daemon: …` line for run/create, with its exit code.
fn run_error(e: ContainerError) -> anyhow::Error {
    let (code, msg) = match &e {
        ContainerError::Start { code, msg } => {
            (*code, format!("Error response from daemon: {msg}"))
        }
        ContainerError::NotSupported(m) => (125, m.clone()),
        other => (125, format!("Error response from daemon: {other}")),
    };
    eprintln!("bay: {msg}");
    Exit(code).into()
}

/// Pull progress for `run`/`create` goes to stderr, as docker's does.
struct StderrProgress;

impl Progress for StderrProgress {
    fn message(&self, line: &str) {
        eprintln!("{line}");
    }
    fn layer(&self, id: &str, status: LayerStatus, _current: u64, _total: u64) {
        if !status.is_progress() {
            eprintln!("{id}: {}", status.text());
        }
    }
}

/// `KEY=VALUE` as given; a bare `KEY` takes the caller's value or is dropped, as docker does.
fn env_entry(e: &str, out: &mut Vec<String>) {
    if e.contains('=') {
        out.push(e.to_string());
    } else if let Ok(v) = std::env::var(e) {
        out.push(format!("{e}={v}"));
    }
}

fn read_env_files(files: &[String], env: &mut Vec<String>) -> Result<()> {
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| {
            eprintln!("bay: open {f}: {}", std::io::Error::from(e.kind()));
            anyhow::Error::new(Exit(125))
        })?;
        for line in text.lines() {
            let l = line.trim_start();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            env_entry(l, env);
        }
    }
    Ok(())
}

fn options(a: &CreateArgs) -> Result<CreateOptions> {
    let (image, cmd) = a
        .argv
        .split_first()
        .ok_or_else(|| anyhow!("\"create\" requires at least 1 argument"))?;
    let mut env = Vec::new();
    read_env_files(&a.env_file, &mut env)?;
    for e in &a.env {
        env_entry(e, &mut env);
    }
    Ok(CreateOptions {
        name: a.name.clone(),
        image: image.clone(),
        cmd: cmd.to_vec(),
        entrypoint: a.entrypoint.clone(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        labels: a.label.clone(),
        volumes: a.volume.clone(),
        mounts: a.mount.clone(),
        tmpfs: a.tmpfs.clone(),
        network: a.network.clone(),
        publish: a.publish.clone(),
        publish_all: a.publish_all,
        privileged: a.privileged,
        read_only: a.read_only,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        auto_remove: a.rm,
        restart: a.restart.clone(),
        init: a.init,
        tty: a.tty,
        interactive: a.interactive,
        stop_signal: a.stop_signal.clone(),
        security_opt: a.security_opt.clone(),
    })
}

/// Creates the container, pulling its image first if it is not in the store.
fn create(engine: &Engine, a: &CreateArgs) -> Result<Container> {
    let o = options(a)?;
    engine.validate_create(&o).map_err(run_error)?;
    match engine.resolve(&o.image) {
        Ok(_) => {}
        Err(bay_engine::Error::NoSuchImage(_)) => {
            let mut shown = Reference::parse(&o.image)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| o.image.clone());
            let last = shown.rsplit('/').next().unwrap_or_default();
            if !last.contains(':') && !shown.contains('@') {
                shown.push_str(":latest");
            }
            eprintln!("Unable to find image '{shown}' locally");
            if let Err(e) = engine.pull(&o.image, &PullOptions { platform: None }, &StderrProgress)
            {
                return Err(run_error(ContainerError::Engine(e)));
            }
        }
        Err(e) => return Err(run_error(ContainerError::Engine(e))),
    }
    engine.create_container(&o).map_err(run_error)
}

pub fn create_cmd(engine: &Engine, a: CreateArgs) -> Result<()> {
    if a.detach {
        bail!("unknown shorthand flag: 'd' in -d");
    }
    let c = create(engine, &a)?;
    println!("{}", c.id);
    Ok(())
}

/// Forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container while the CLI waits on it
/// (docker's --sig-proxy).
fn proxy_signals(engine_root: std::path::PathBuf, runtime: Option<std::path::PathBuf>, id: String) {
    let sigs = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];
    // SAFETY: sigset manipulation on a local set; pthread_sigmask blocks them in this thread
    // (inherited by the thread below) so that sigwait receives them.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || loop {
        let mut sig = 0;
        // SAFETY: sigwait writes the signal number into `sig`.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        let mut c = std::process::Command::new(
            runtime
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from("berth")),
        );
        c.arg("--root")
            .arg(engine_root.join("runtime"))
            .args(["kill", &id, &sig.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let _ = c.status();
    });
}

fn wait_foreground(engine: &Engine, c: &Container, started: Started) -> Result<()> {
    let rt = engine.runtime_path().ok();
    proxy_signals(engine.root().to_path_buf(), rt, c.id.clone());
    let code = started.wait_exit().map_err(run_error)?;
    let _ = std::io::stdout().flush();
    if code == 0 {
        Ok(())
    } else {
        Err(Exit(code.clamp(0, 255) as u8).into())
    }
}

/// Puts the terminal on fd 0 in raw mode until dropped (for `-it`).
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    fn enable() -> RawTerminal {
        // SAFETY: termios is plain old data; the calls only read/write it and fd 0.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawTerminal(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawTerminal(Some(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores the attributes read in enable().
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

pub fn run(engine: &Engine, a: CreateArgs) -> Result<()> {
    if a.tty && a.interactive && !a.detach && !crate::isatty(0) {
        eprintln!("the input device is not a TTY");
        return Err(Exit(1).into());
    }
    let c = create(engine, &a)?;
    let attach = if a.detach {
        Attach::default()
    } else {
        Attach {
            stdin: a.interactive,
            output: true,
        }
    };
    let started = engine.start_container(&c, attach).map_err(run_error)?;
    if a.detach {
        println!("{}", c.id);
        return Ok(());
    }
    let _raw = (a.tty && a.interactive).then(RawTerminal::enable);
    match started {
        Some(s) => wait_foreground(engine, &c, s),
        None => Ok(()),
    }
}

/// Runs `f` on each named container; docker prints each error and exits 1 at the end.
fn each(
    engine: &Engine,
    names: &[String],
    mut f: impl FnMut(&Container, &str) -> Result<(), ContainerError>,
) -> Result<()> {
    let mut failed = false;
    for n in names {
        let res = engine.container(n).and_then(|c| f(&engine.refresh(c), n));
        if let Err(e) = res {
            eprintln!("Error response from daemon: {e}");
            failed = true;
        }
    }
    if failed {
        Err(Exit(1).into())
    } else {
        Ok(())
    }
}

pub fn start(engine: &Engine, a: StartArgs) -> Result<()> {
    if a.attach || a.interactive {
        let [n] = a.containers.as_slice() else {
            bail!("you cannot start and attach multiple containers at once");
        };
        let c = engine.refresh(engine.container(n)?);
        let started = engine
            .start_container(
                &c,
                Attach {
                    stdin: a.interactive,
                    output: true,
                },
            )
            .map_err(|e| {
                eprintln!("Error response from daemon: {e}");
                anyhow::Error::new(Exit(1))
            })?;
        return match started {
            Some(s) => wait_foreground(engine, &c, s),
            None => Ok(()),
        };
    }
    let mut failed = false;
    for n in &a.containers {
        let res = engine
            .container(n)
            .and_then(|c| engine.start_container(&engine.refresh(c), Attach::default()));
        match res {
            Ok(_) => println!("{n}"),
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

pub fn stop(engine: &Engine, a: StopArgs) -> Result<()> {
    each(engine, &a.containers, |c, n| {
        engine.stop_container(c, a.time)?;
        println!("{n}");
        Ok(())
    })
}

pub fn restart(engine: &Engine, a: StopArgs) -> Result<()> {
    each(engine, &a.containers, |c, n| {
        engine.stop_container(c, a.time)?;
        let now = engine
            .container_by_id(&c.id)?
            .ok_or_else(|| ContainerError::NoSuchContainer(n.to_string()))?;
        engine.start_container(&now, Attach::default())?;
        println!("{n}");
        Ok(())
    })
}

pub fn kill(engine: &Engine, a: KillArgs) -> Result<()> {
    each(engine, &a.containers, |c, n| {
        engine.kill_container(c, &a.signal)?;
        println!("{n}");
        Ok(())
    })
}

pub fn rm(engine: &Engine, a: RmArgs) -> Result<()> {
    // -v and -l have nothing to remove yet (no volumes or links exist); docker accepts both.
    each(engine, &a.containers, |c, n| {
        engine.remove_container(c, a.force)?;
        println!("{n}");
        Ok(())
    })
}

pub fn wait(engine: &Engine, a: NamesArgs) -> Result<()> {
    each(engine, &a.containers, |c, _| {
        let code = engine.wait_container(c)?;
        println!("{code}");
        Ok(())
    })
}

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
                "Ports": "",
                "State": c.status.as_str(),
                "Status": status_text(c),
                "Size": "",
                "Names": c.name,
                "Labels": c.labels().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Mounts": c.all_mounts().iter().map(|m| m.target.clone()).collect::<Vec<_>>().join(","),
                "Networks": match c.host_config.network_mode.as_str() { "default" => "none", n => n },
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
            "{}\t{}\t{}\t{}\t{}\t\t{}\n",
            r["ID"].as_str().unwrap_or_default(),
            r["Image"].as_str().unwrap_or_default(),
            r["Command"].as_str().unwrap_or_default(),
            since(epoch(&c.created)),
            r["Status"].as_str().unwrap_or_default(),
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

/// `--since`/`--until`: RFC 3339, unix seconds, or a duration ago (`42m`, `1h30m`, `10s`).
fn parse_time(s: &str) -> Result<(i64, u32)> {
    if let Some(t) = bay_engine::timefmt::parse_rfc3339(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs.trunc() as i64, (secs.fract() * 1e9) as u32));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            rest = &rest[1..];
            continue;
        }
        let (unit, mult) = if rest.starts_with("ms") {
            ("ms", 0.001)
        } else if rest.starts_with('h') {
            ("h", 3600.0)
        } else if rest.starts_with('m') {
            ("m", 60.0)
        } else if rest.starts_with('s') {
            ("s", 1.0)
        } else {
            bail!("invalid value for \"since\": failed to parse value as time or duration: {s:?}");
        };
        let n: f64 = num.parse().map_err(|_| {
            anyhow!("invalid value for \"since\": failed to parse value as time or duration: {s:?}")
        })?;
        total += n * mult;
        num.clear();
        rest = &rest[unit.len()..];
    }
    if !num.is_empty() || total == 0.0 {
        bail!("invalid value for \"since\": failed to parse value as time or duration: {s:?}");
    }
    let (now, nanos) = bay_engine::timefmt::now();
    let t = now as f64 + nanos as f64 / 1e9 - total;
    Ok((t.trunc() as i64, (t.fract() * 1e9) as u32))
}

/// RFC3339Nano with all nine digits, as `logs -t` prints.
fn fixed_time(t: &str) -> String {
    match bay_engine::timefmt::parse_rfc3339(t) {
        Some((s, n)) => {
            let base = bay_engine::timefmt::format_rfc3339(s, 0);
            format!("{}.{n:09}Z", base.trim_end_matches('Z'))
        }
        None => t.to_string(),
    }
}

pub fn logs(engine: &Engine, a: LogsArgs) -> Result<()> {
    let c = engine.container(&a.container)?;
    let tail = match a.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|_| anyhow!("invalid value for tail: {n:?}"))?
                .max(0) as usize,
        ),
    };
    let opts = LogOptions {
        follow: a.follow,
        tail,
        since: a.since.as_deref().map(parse_time).transpose()?,
        until: a.until.as_deref().map(parse_time).transpose()?,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut sink = |e: &LogEntry| -> std::io::Result<()> {
        let mut line = String::new();
        if a.timestamps {
            line.push_str(&fixed_time(&e.time));
            line.push(' ');
        }
        line.push_str(&e.log);
        if e.stream == "stderr" {
            let mut w = stderr.lock();
            w.write_all(line.as_bytes())?;
            w.flush()
        } else {
            let mut w = stdout.lock();
            w.write_all(line.as_bytes())?;
            w.flush()
        }
    };
    engine.read_logs(&c.id, &opts, &mut sink)?;
    Ok(())
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

/// The hidden `container-monitor` verb: fd 3 is the status pipe from `start`.
pub fn monitor(engine: &Engine, a: MonitorArgs) -> Result<()> {
    use std::os::fd::FromRawFd;
    // SAFETY: `start` passes the status pipe as fd 3; nothing else in this process owns it.
    let status = unsafe { std::fs::File::from_raw_fd(3) };
    // SAFETY: fcntl on the fd we now own.
    unsafe { libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) };
    engine.run_monitor(
        &a.id,
        status,
        Attach {
            stdin: a.stdin,
            output: a.attach,
        },
    )?;
    Ok(())
}

pub fn exec(engine: &Engine, a: ExecArgs) -> Result<()> {
    let (name, cmd) = a
        .argv
        .split_first()
        .ok_or_else(|| anyhow!("\"exec\" requires at least 2 arguments"))?;
    let mut env = Vec::new();
    read_env_files(&a.env_file, &mut env)?;
    for e in &a.env {
        env_entry(e, &mut env);
    }
    if a.tty && !crate::isatty(0) && a.interactive {
        eprintln!("the input device is not a TTY");
        return Err(Exit(1).into());
    }
    let c = engine.refresh(engine.container(name)?);
    let code = engine.exec(
        &c,
        &bay_engine::container::exec::ExecOptions {
            cmd: cmd.to_vec(),
            env,
            workdir: a.workdir.clone(),
            user: a.user.clone(),
            tty: a.tty,
            interactive: a.interactive,
            detach: a.detach,
        },
    )?;
    if code == 0 {
        Ok(())
    } else {
        Err(Exit(code.clamp(0, 255) as u8).into())
    }
}

pub fn pause(engine: &Engine, a: NamesArgs, pause: bool) -> Result<()> {
    each(engine, &a.containers, |c, n| {
        engine.pause_container(c, pause)?;
        println!("{n}");
        Ok(())
    })
}

/// `attach`: the container's output here, our input to its stdin (when it has one open),
/// Ctrl-P Ctrl-Q detaches; exits with the container's code once it stops.
pub fn attach(engine: &Engine, a: AttachArgs) -> Result<()> {
    use std::io::Read;
    let c = engine.refresh(engine.container(&a.container)?);
    let mut sock = engine.attach(&c)?;
    let send_stdin = c.config.open_stdin && !a.no_stdin;
    if c.config.tty && send_stdin && !crate::isatty(0) {
        eprintln!("the input device is not a TTY");
        return Err(Exit(1).into());
    }
    let _raw = (c.config.tty && send_stdin).then(RawTerminal::enable);
    if a.sig_proxy && !c.config.tty {
        proxy_signals(
            engine.root().to_path_buf(),
            engine.runtime_path().ok(),
            c.id.clone(),
        );
    }
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if send_stdin {
        let mut to = sock.try_clone()?;
        let flag = detached.clone();
        let tty = c.config.tty;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut prev_ctrl_p = false;
            let mut stdin = std::io::stdin().lock();
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = to.shutdown(std::net::Shutdown::Write);
                        return;
                    }
                    Ok(n) => n,
                };
                // docker's default detach keys, on a terminal.
                if tty {
                    for &b in &buf[..n] {
                        if prev_ctrl_p && b == 0x11 {
                            flag.store(true, std::sync::atomic::Ordering::SeqCst);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        prev_ctrl_p = b == 0x10;
                    }
                }
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
    }
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut header = [0u8; 8];
    let mut exit = None;
    loop {
        if sock.read_exact(&mut header).is_err() {
            break;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0u8; len];
        if sock.read_exact(&mut data).is_err() {
            break;
        }
        if header[0] == bay_engine::container::attach::EXIT_STREAM && len == 4 {
            exit = Some(i32::from_be_bytes([data[0], data[1], data[2], data[3]]) as i64);
            break;
        }
        let _ = if header[0] == 2 {
            let mut e = stderr.lock();
            e.write_all(&data).and_then(|_| e.flush())
        } else {
            let mut o = stdout.lock();
            o.write_all(&data).and_then(|_| o.flush())
        };
    }
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        drop(_raw);
        eprintln!("read escape sequence");
        return Ok(());
    }
    let code = match exit {
        // Let the monitor finish recording the exit, as docker returns once it is stopped.
        Some(code) => {
            engine.wait_stopped(&c.id, None)?;
            code
        }
        None => engine.wait_container(&c)?,
    };
    if code == 0 {
        Ok(())
    } else {
        Err(Exit(code.clamp(0, 255) as u8).into())
    }
}

pub fn top(engine: &Engine, a: TopArgs) -> Result<()> {
    let c = engine.refresh(engine.container(&a.container)?);
    print!("{}", engine.top_container(&c, &a.ps_args)?);
    Ok(())
}

/// No ports are published yet (bridge networking is not there): nothing to list.
pub fn port(engine: &Engine, a: PortArgs) -> Result<()> {
    let c = engine.container(&a.container)?;
    if let Some(p) = a.port {
        let p = if p.contains('/') {
            p
        } else {
            format!("{p}/tcp")
        };
        bail!("No public port '{p}' published for {}", c.name);
    }
    Ok(())
}

pub fn diff(engine: &Engine, a: OneArgs) -> Result<()> {
    let c = engine.container(&a.container)?;
    let mut out = String::new();
    for ch in engine.diff_container(&c)? {
        out.push_str(&ch.line());
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

pub fn export(engine: &Engine, a: ExportArgs) -> Result<()> {
    let c = engine.refresh(engine.container(&a.container)?);
    match &a.output {
        Some(p) => {
            let tmp = p.with_extension("bay-tmp");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            let res = engine
                .export_container(&c, &mut f)
                .map_err(anyhow::Error::from)
                .and_then(|_| {
                    f.flush()?;
                    Ok(())
                });
            match res {
                Ok(()) => std::fs::rename(&tmp, p)?,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            }
        }
        None => {
            if crate::isatty(1) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            engine.export_container(&c, &mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}

pub fn rename(engine: &Engine, a: RenameArgs) -> Result<()> {
    let c = engine.container(&a.container)?;
    engine.rename_container(&c, &a.new_name)?;
    Ok(())
}
