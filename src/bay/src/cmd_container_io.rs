//! Talking to a container's processes and files: `logs`, `exec`, `attach`, `top`, `port`,
//! `diff`, `export`.

use std::io::Write;

use anyhow::{anyhow, bail, Result};
use bay_engine::container::logs::{LogEntry, LogOptions};
use bay_engine::Engine;

use crate::cmd_container::{env_entry, proxy_signals, read_env_files, RawTerminal};
use crate::{
    AttachArgs, CommitArgs, CpArgs, ExecArgs, Exit, ExportArgs, LogsArgs, OneArgs, PortArgs,
    TopArgs,
};

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
            None,
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

/// docker port: `80/tcp -> 0.0.0.0:8080` lines, or the host addresses of one port.
pub fn port(engine: &Engine, a: PortArgs) -> Result<()> {
    let c = engine.refresh(engine.container(&a.container)?);
    let maps = engine.container_ports(&c);
    let addr = |m: &bay_engine::network::store::PortMap| {
        let ip = if m.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &m.host_ip
        };
        format!("{ip}:{}", m.host_port)
    };
    if let Some(p) = a.port {
        let p = if p.contains('/') {
            p
        } else {
            format!("{p}/tcp")
        };
        let hits: Vec<String> = maps
            .iter()
            .filter(|m| format!("{}/{}", m.container_port, m.protocol) == p)
            .map(addr)
            .collect();
        if hits.is_empty() {
            bail!("No public port '{p}' published for {}", c.name);
        }
        println!("{}", hits.join("\n"));
        return Ok(());
    }
    for m in &maps {
        println!("{}/{} -> {}", m.container_port, m.protocol, addr(m));
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

pub fn commit(engine: &Engine, a: CommitArgs) -> Result<()> {
    if !a.change.is_empty() {
        bail!("commit --change is not supported yet");
    }
    let c = engine.refresh(engine.container(&a.container)?);
    let id = engine.commit_container(
        &c,
        &bay_engine::container::commit::CommitOptions {
            reference: a.reference.clone(),
            author: a.author.clone(),
            message: a.message.clone(),
            pause: a.pause,
        },
    )?;
    println!("{id}");
    Ok(())
}

/// `NAME:PATH` names a container path; a local path starts with `/` or `.`, or has no `:`.
fn split_container_path(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    let (c, p) = s.split_once(':')?;
    (!c.is_empty()).then_some((c, if p.is_empty() { "/" } else { p }))
}

pub fn cp(engine: &Engine, a: CpArgs) -> Result<()> {
    if a.follow_link {
        bail!("cp -L is not supported yet");
    }
    match (split_container_path(&a.src), split_container_path(&a.dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((name, path)), None) => {
            let c = engine.refresh(engine.container(name)?);
            if a.dest == "-" {
                if crate::isatty(1) {
                    bail!("cowardly refusing to write a tar stream to a terminal");
                }
                let stdout = std::io::stdout();
                let mut w = std::io::BufWriter::new(stdout.lock());
                engine.copy_from_container_tar(&c, path, &mut w)?;
                w.flush()?;
            } else {
                engine.copy_from_container(&c, path, std::path::Path::new(&a.dest))?;
            }
        }
        (None, Some((name, path))) => {
            let c = engine.refresh(engine.container(name)?);
            if a.src == "-" {
                engine.copy_tar_to_container(&c, &mut std::io::stdin().lock(), path)?;
            } else {
                engine.copy_to_container(&c, std::path::Path::new(&a.src), path)?;
            }
        }
    }
    Ok(())
}
