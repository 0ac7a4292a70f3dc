//! `info` and `version`: what docker users look at first. bay has no daemon, so the "server"
//! facts are this host's and this store's, read when the command runs.

use anyhow::{anyhow, Result};
use bay_engine::container::Status;
use bay_engine::Engine;
use clap::Args;
use serde_json::{json, Value};

use crate::format::Template;

#[derive(Args)]
pub struct InfoArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Args)]
pub struct VersionArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn render(format: &str, v: &Value) -> Result<()> {
    let t = Template::parse(format).map_err(|e| anyhow!(e))?;
    let out = t.render(v).map_err(|e| anyhow!("template: {e}"))?;
    println!("{out}");
    Ok(())
}

fn uname() -> (String, String) {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid utsname we own.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new());
    }
    let s = |f: &[libc::c_char]| {
        let b: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    (s(&u.release), s(&u.machine))
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// docker's "extfs", "xfs", ... for the filesystem the store lives on.
fn backing_fs(path: &std::path::Path) -> &'static str {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return "<unknown>";
    };
    // SAFETY: statfs is plain old data; statfs fills it for a valid path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and st is ours.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return "<unknown>";
    }
    match st.f_type {
        0xef53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683e => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794c_7630 => "overlayfs",
        0x2fc1_2fc1 => "zfs",
        _ => "<unknown>",
    }
}

/// docker's binary units with two decimals: `23.54GiB`.
fn mem_units(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2}{}", units[i])
}

fn info_value(engine: &Engine) -> Result<Value> {
    let containers = engine.containers()?;
    let count = |s: &[Status]| containers.iter().filter(|c| s.contains(&c.status)).count();
    let running = count(&[Status::Running]);
    let paused = count(&[Status::Paused]);
    let images = engine.list_images()?.len();
    let (kernel, arch) = uname();
    let runtime = engine.runtime_path().ok();
    let runtime_name = runtime
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "none".into());
    let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    Ok(json!({
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", backing_fs(engine.root())]],
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if cgroup_v2 { "2" } else { "1" },
        "Plugins": {"Volume": [], "Network": ["bridge", "host", "none"], "Log": ["json-file"]},
        "Runtimes": {runtime_name.clone(): {"path": runtime.map(|p| p.display().to_string()).unwrap_or_default()}},
        "DefaultRuntime": runtime_name,
        "KernelVersion": kernel,
        "OperatingSystem": os_name(),
        "OSType": "linux",
        "Architecture": arch,
        "NCPU": ncpu,
        "MemTotal": mem_total(),
        "Name": name,
        "DockerRootDir": engine.root().display().to_string(),
        "ServerVersion": VERSION,
        "Daemonless": true,
    }))
}

pub fn info(engine: &Engine, a: InfoArgs) -> Result<()> {
    let v = info_value(engine)?;
    if let Some(f) = &a.format {
        return render(f, &v);
    }
    let s = |k: &str| crate::format::to_text(&v[k]);
    let runtimes = v["Runtimes"]
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let backing = v["DriverStatus"][0][1].as_str().unwrap_or_default();
    println!("Client:");
    println!(" Version:    {VERSION}");
    println!(" Context:    default");
    println!();
    println!("Server:");
    println!(" Containers: {}", s("Containers"));
    println!("  Running: {}", s("ContainersRunning"));
    println!("  Paused: {}", s("ContainersPaused"));
    println!("  Stopped: {}", s("ContainersStopped"));
    println!(" Images: {}", s("Images"));
    println!(" Server Version: {VERSION}");
    println!(" Storage Driver: overlay2");
    println!("  Backing Filesystem: {backing}");
    println!(" Logging Driver: json-file");
    println!(" Cgroup Driver: cgroupfs");
    println!(" Cgroup Version: {}", s("CgroupVersion"));
    println!(" Plugins:");
    println!("  Network: bridge host none");
    println!("  Log: json-file");
    println!(" Runtimes: {runtimes}");
    println!(" Default Runtime: {}", s("DefaultRuntime"));
    println!(" Kernel Version: {}", s("KernelVersion"));
    println!(" Operating System: {}", s("OperatingSystem"));
    println!(" OSType: linux");
    println!(" Architecture: {}", s("Architecture"));
    println!(" CPUs: {}", s("NCPU"));
    println!(
        " Total Memory: {}",
        mem_units(v["MemTotal"].as_u64().unwrap_or(0))
    );
    println!(" Name: {}", s("Name"));
    println!(" Bay Root Dir: {}", s("DockerRootDir"));
    Ok(())
}

pub fn version(engine: &Engine, a: VersionArgs) -> Result<()> {
    let (_, arch) = uname();
    let goarch = match arch.as_str() {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let runtime = engine
        .runtime_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "none found".into());
    let v = json!({
        "Client": {"Version": VERSION, "Os": "linux", "Arch": goarch},
        "Server": {"Version": VERSION, "Os": "linux", "Arch": goarch, "Runtime": runtime},
    });
    if let Some(f) = &a.format {
        return render(f, &v);
    }
    println!("Client: bay");
    println!(" Version:           {VERSION}");
    println!(" OS/Arch:           linux/{goarch}");
    println!();
    println!("Server: bay (daemonless)");
    println!(" Engine:");
    println!("  Version:          {VERSION}");
    println!("  OS/Arch:          linux/{goarch}");
    println!(" Runtime:");
    println!("  Path:             {runtime}");
    Ok(())
}
