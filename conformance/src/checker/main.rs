//! conformance-checker: runs as the container process, reads the config.json the driver gave the
//! runtime (a copy at /conformance/config.json) plus host facts (/conformance/host.json), and
//! checks from inside the container that the environment matches. Output is TAP on stdout; the
//! exit code is 0 when every check passed.

mod cgroups;
mod fs;
mod ns;
mod process;
mod tap;

use serde_json::Value;
use std::path::Path;
use tap::Tap;

const CONFIG: &str = "/conformance/config.json";
const HOST: &str = "/conformance/host.json";

fn load(path: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("parsing {path}: {e}"))
}

fn main() {
    let mut tap = Tap::default();
    let (config, host) = match (load(CONFIG), load(HOST)) {
        (Ok(c), Ok(h)) => (c, h),
        (Err(e), _) | (_, Err(e)) => {
            tap.check("checker inputs readable", false, e);
            tap.finish();
            std::process::exit(1);
        }
    };
    // The list of areas to check can be narrowed by the driver (host.json "only").
    let only: Vec<String> = host["only"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let want = |area: &str| only.is_empty() || only.iter().any(|o| o == area);

    if want("process") {
        process::check(&mut tap, &config, &host);
    }
    if want("ns") {
        ns::check(&mut tap, &config, &host);
    }
    if want("fs") {
        fs::check(&mut tap, &config, &host);
    }
    if want("cgroups") && Path::new("/sys/fs/cgroup").exists() {
        cgroups::check(&mut tap, &config);
    }
    // Seccomp probes go last: they call syscalls the profile may deny.
    if want("process") {
        process::check_seccomp(&mut tap, &config, &host);
    }
    let failed = tap.finish();
    std::process::exit(if failed { 1 } else { 0 });
}
