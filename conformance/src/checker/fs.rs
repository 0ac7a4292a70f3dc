//! Checks of the filesystem view: root, mounts (type, options, order, propagation), masked and
//! read-only paths, devices.

use crate::tap::Tap;
use serde_json::Value;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

struct MountInfo {
    mount_point: String,
    opts: Vec<String>,
    optional: Vec<String>,
    fstype: String,
    super_opts: Vec<String>,
}

/// Undoes the octal escapes of mountinfo (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mountinfo() -> Vec<MountInfo> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            Some(MountInfo {
                mount_point: unescape(f.get(4)?),
                opts: f.get(5)?.split(',').map(String::from).collect(),
                optional: f[6..sep].iter().map(|s| s.to_string()).collect(),
                fstype: f.get(sep + 1)?.to_string(),
                super_opts: f
                    .get(sep + 3)
                    .map(|s| s.split(',').map(String::from).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The mount visible at `path`: the last one listed for that mount point.
fn top<'a>(mounts: &'a [MountInfo], path: &str) -> Option<&'a MountInfo> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

fn propagation(m: &MountInfo) -> &'static str {
    if m.optional.iter().any(|o| o.starts_with("shared:")) {
        "shared"
    } else if m.optional.iter().any(|o| o.starts_with("master:")) {
        "slave"
    } else if m.optional.iter().any(|o| o == "unbindable") {
        "unbindable"
    } else {
        "private"
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1024),
        'm' | 'M' => (&s[..s.len() - 1], 1024 * 1024),
        'g' | 'G' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

fn super_opt<'a>(m: &'a MountInfo, key: &str) -> Option<&'a str> {
    m.super_opts
        .iter()
        .find_map(|o| o.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn statvfs_ro(path: &str) -> Option<bool> {
    let c = std::ffi::CString::new(path).ok()?;
    // SAFETY: c is NUL-terminated and st is a valid out-pointer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then_some(st.f_flag & libc::ST_RDONLY != 0)
}

fn write_probe(dir: &str) -> std::io::Result<()> {
    let p = format!("{}/.conformance-write-probe", dir.trim_end_matches('/'));
    std::fs::write(&p, b"x")?;
    std::fs::remove_file(&p)
}

pub fn check(tap: &mut Tap, config: &Value, host: &Value) {
    let mounts = mountinfo();
    check_root(tap, config, host, &mounts);
    check_mounts(tap, config, host, &mounts);
    check_masked_readonly(tap, config, &mounts);
    check_devices(tap, config);
}

fn check_root(tap: &mut Tap, config: &Value, host: &Value, mounts: &[MountInfo]) {
    if let Some(token) = host["rootfs_marker"].as_str() {
        let got = std::fs::read_to_string("/conformance/rootfs-marker").unwrap_or_default();
        tap.eq(
            "root.path: the bundle's root filesystem is /",
            got.trim(),
            token,
        );
    }
    let ro = config["root"]["readonly"].as_bool() == Some(true);
    tap.eq("root.readonly: / read-only flag", statvfs_ro("/"), Some(ro));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let res = write_probe("/");
        let detail = format!("creating a file in / gave {res:?}");
        if ro {
            tap.check(
                "root.readonly: writing to / fails with EROFS",
                res.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EROFS),
                detail,
            );
        } else {
            tap.check("root.readonly false: / is writable", res.is_ok(), detail);
        }
    }
    if let Some(want) = config["linux"]["rootfsPropagation"].as_str() {
        let got = top(mounts, "/").map(propagation);
        let want = want.trim_start_matches('r');
        tap.eq(
            "linux.rootfsPropagation of /",
            got,
            Some(if want == "slave" { "slave" } else { want }),
        );
    }
}

fn is_bind(m: &Value) -> bool {
    m["type"] == "bind"
        || m["options"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"))
}

fn check_mounts(tap: &mut Tap, config: &Value, host: &Value, mounts: &[MountInfo]) {
    let list = config["mounts"].as_array().cloned().unwrap_or_default();
    // Relative destinations are relative to / (config.md, spec 1.2).
    let dest = |m: &Value| {
        let d = m["destination"]
            .as_str()
            .unwrap_or("")
            .trim_end_matches('/');
        if d.starts_with('/') || d.is_empty() {
            d.to_string()
        } else {
            format!("/{d}")
        }
    };
    for (i, m) in list.iter().enumerate() {
        let d = dest(m);
        // A later entry at the same place or above it hides this one (mounts go in listed order).
        let hidden = list[i + 1..].iter().any(|later| {
            let l = dest(later);
            l == d || d.starts_with(&format!("{l}/")) || l.is_empty()
        });
        if hidden || d.is_empty() {
            continue;
        }
        let name = format!("mounts[{i}] {d}");
        let Some(mi) = top(mounts, &d) else {
            tap.check(&name, false, "not a mount point in the container");
            continue;
        };
        if is_bind(m) {
            if let Some(token) = host["markers"][&d].as_str() {
                let p = if std::path::Path::new(&d).is_dir() {
                    format!("{d}/.conformance-marker")
                } else {
                    d.clone()
                };
                let got = std::fs::read_to_string(&p).unwrap_or_default();
                tap.eq(&format!("{name}: bind shows the source"), got.trim(), token);
            }
        } else if let Some(ty) = m["type"].as_str() {
            let ok = mi.fstype == ty
                || (ty == "cgroup" && matches!(mi.fstype.as_str(), "cgroup" | "cgroup2" | "tmpfs"));
            tap.check(
                &format!("{name}: type {ty}"),
                ok,
                format!("mounted as {}", mi.fstype),
            );
            if ty == "cgroup" && mi.fstype == "tmpfs" {
                // cgroup v1: a tmpfs holding one mount per hierarchy; the options apply to those.
                let prefix = format!("{d}/");
                let subs: Vec<&MountInfo> = mounts
                    .iter()
                    .filter(|x| {
                        x.mount_point.starts_with(&prefix) && x.fstype.starts_with("cgroup")
                    })
                    .collect();
                tap.check(
                    &format!("{name}: cgroup v1 hierarchies mounted"),
                    !subs.is_empty(),
                    "no cgroup mounts under the tmpfs",
                );
                for sub in subs {
                    check_options(tap, &format!("{name} ({})", sub.mount_point), m, sub);
                }
                continue;
            }
        }
        check_options(tap, &name, m, mi);
        // rro/rrw (spec 1.1): the flag applies to every mount below the destination too.
        let opts = m["options"].as_array().cloned().unwrap_or_default();
        if let Some(r) = opts
            .iter()
            .rev()
            .find_map(|o| o.as_str().filter(|o| *o == "rro" || *o == "rrw"))
        {
            let prefix = format!("{d}/");
            let subs: Vec<&MountInfo> = mounts
                .iter()
                .filter(|x| x.mount_point.starts_with(&prefix))
                .collect();
            for sub in subs {
                let ro = sub.opts.iter().any(|o| o == "ro");
                tap.eq(
                    &format!("{name}: {r} applies to {}", sub.mount_point),
                    ro,
                    r == "rro",
                );
            }
        }
    }
}

fn check_options(tap: &mut Tap, name: &str, m: &Value, mi: &MountInfo) {
    let opts: Vec<String> = m["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.as_str().map(String::from))
        .collect();
    let has = |o: &str| mi.opts.iter().any(|x| x == o);
    // Later options override earlier ones of the same kind, as mount(8) does.
    let mut flags: Vec<(&str, bool)> = vec![("ro", false)];
    let mut set = |flag: &'static str, on: bool| {
        flags.retain(|f| f.0 != flag);
        flags.push((flag, on));
    };
    let mut atime: Option<&str> = None;
    let mut prop: Option<&str> = None;
    for o in &opts {
        match o.as_str() {
            "ro" | "rw" | "rro" | "rrw" => set("ro", o == "ro" || o == "rro"),
            "nosuid" | "suid" => set("nosuid", o == "nosuid"),
            "nodev" | "dev" => set("nodev", o == "nodev"),
            "noexec" | "exec" => set("noexec", o == "noexec"),
            "nodiratime" => set("nodiratime", true),
            "noatime" | "relatime" | "strictatime" => atime = Some(o.as_str()),
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" | "unbindable"
            | "runbindable" => prop = Some(o.trim_start_matches('r')),
            _ => {}
        }
    }
    for (flag, want) in flags {
        tap.eq(&format!("{name}: option {flag}"), has(flag), want);
    }
    if let Some(a) = atime {
        let got = if has("noatime") {
            "noatime"
        } else if has("relatime") {
            "relatime"
        } else {
            "strictatime"
        };
        tap.eq(&format!("{name}: option {a}"), got, a);
    }
    if let Some(p) = prop {
        let p = if p == "slave" { "slave" } else { p };
        tap.eq(&format!("{name}: propagation {p}"), propagation(mi), p);
    }
    if m["type"] == "tmpfs" {
        for o in &opts {
            if let Some(v) = o.strip_prefix("mode=") {
                let want = u32::from_str_radix(v, 8).ok();
                let got = super_opt(mi, "mode")
                    .and_then(|g| u32::from_str_radix(g, 8).ok())
                    .or(Some(0o1777));
                tap.eq(&format!("{name}: tmpfs {o}"), got, want);
            }
            if let Some(v) = o.strip_prefix("size=") {
                let got = super_opt(mi, "size").and_then(parse_size);
                tap.eq(&format!("{name}: tmpfs {o}"), got, parse_size(v));
            }
        }
    }
}

fn check_masked_readonly(tap: &mut Tap, config: &Value, mounts: &[MountInfo]) {
    let linux = &config["linux"];
    for p in linux["maskedPaths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
    {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            continue;
        };
        let covered = top(mounts, p).is_some();
        let unreadable = if meta.is_dir() {
            std::fs::read_dir(p)
                .map(|mut d| d.next().is_none())
                .unwrap_or(true)
        } else {
            std::fs::read(p).map(|c| c.is_empty()).unwrap_or(true)
        };
        tap.check(
            &format!("linux.maskedPaths {p}"),
            covered && unreadable,
            format!("mounted over: {covered}, contents hidden: {unreadable}"),
        );
    }
    for p in linux["readonlyPaths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
    {
        let Ok(meta) = std::fs::metadata(p) else {
            continue;
        };
        let ro = statvfs_ro(p) == Some(true);
        let mut detail = format!("read-only flag: {ro}");
        let mut ok = ro;
        if meta.is_dir() && !p.starts_with("/proc") {
            let res = write_probe(p);
            ok &= res.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EROFS);
            detail = format!("{detail}, writing gave {res:?}");
        }
        tap.check(&format!("linux.readonlyPaths {p}"), ok, detail);
    }
}

fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

fn device_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_char_device() {
        "c"
    } else if t.is_block_device() {
        "b"
    } else if t.is_fifo() {
        "p"
    } else {
        "not a device"
    }
}

fn check_devices(tap: &mut Tap, config: &Value) {
    let defaults = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    for (path, ma, mi) in defaults {
        let got =
            std::fs::metadata(path).map(|m| (device_kind(&m), major(m.rdev()), minor(m.rdev())));
        tap.check(
            &format!("default device {path}"),
            matches!(&got, Ok(g) if *g == ("c", ma, mi)),
            format!("{got:?}, want c {ma}:{mi}"),
        );
    }
    let ptmx =
        std::fs::metadata("/dev/ptmx").map(|m| (device_kind(&m), major(m.rdev()), minor(m.rdev())));
    tap.check(
        "default device /dev/ptmx",
        matches!(&ptmx, Ok(("c", 5, 2))),
        format!("{ptmx:?}"),
    );
    use std::io::Write;
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .and_then(|mut f| f.write_all(b"x"));
    tap.check(
        "/dev/full works (write gives ENOSPC)",
        full.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::ENOSPC),
        format!("{full:?}"),
    );

    let allowed = cgroup_device_rules(config);
    for d in config["linux"]["devices"].as_array().into_iter().flatten() {
        let path = d["path"].as_str().unwrap_or("");
        let name = format!("linux.devices {path}");
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                tap.check(&name, false, format!("missing: {e}"));
                continue;
            }
        };
        let want_kind = match d["type"].as_str() {
            Some("u") => "c",
            Some(t) => t,
            None => "?",
        };
        tap.eq(&format!("{name}: type"), device_kind(&meta), want_kind);
        if want_kind != "p" {
            let want = (
                d["major"].as_u64().unwrap_or(0),
                d["minor"].as_u64().unwrap_or(0),
            );
            tap.eq(
                &format!("{name}: major:minor"),
                (major(meta.rdev()), minor(meta.rdev())),
                want,
            );
        }
        if let Some(mode) = d["fileMode"].as_u64() {
            tap.eq(
                &format!("{name}: fileMode"),
                format!("{:o}", meta.mode() & 0o7777),
                format!("{:o}", mode & 0o7777),
            );
        }
        if let Some(uid) = d["uid"].as_u64() {
            tap.eq(&format!("{name}: uid"), meta.uid() as u64, uid);
        }
        if let Some(gid) = d["gid"].as_u64() {
            tap.eq(&format!("{name}: gid"), meta.gid() as u64, gid);
        }
        if want_kind == "c" {
            if let Some(allow) = allowed(d) {
                let res = std::fs::File::open(path);
                let detail = format!("opening for read gave {res:?}");
                if allow {
                    tap.check(&format!("{name}: cgroup allows read"), res.is_ok(), detail);
                } else {
                    let eperm =
                        res.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EPERM);
                    tap.check(
                        &format!("{name}: cgroup denies read (EPERM)"),
                        eperm,
                        detail,
                    );
                }
            }
        }
    }
}

/// Evaluates linux.resources.devices for a device: the last matching rule wins. None when no
/// rule names the device specifically (then the runtime's defaults decide, which the spec leaves
/// open).
fn cgroup_device_rules(config: &Value) -> impl Fn(&Value) -> Option<bool> + '_ {
    move |dev: &Value| {
        let rules = config["linux"]["resources"]["devices"].as_array()?;
        let mut decision = None;
        let mut specific = false;
        for r in rules {
            let ty = r["type"].as_str().unwrap_or("a");
            let type_ok = ty == "a" || Some(ty) == dev["type"].as_str();
            let num_ok = |k: &str| r[k].is_null() || r[k].as_i64() == Some(-1) || r[k] == dev[k];
            let access = r["access"].as_str().unwrap_or("rwm");
            if type_ok && num_ok("major") && num_ok("minor") && access.contains('r') {
                decision = Some(r["allow"].as_bool() == Some(true));
                specific |= !r["major"].is_null();
            }
        }
        if specific {
            decision
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mi(optional: &[&str]) -> MountInfo {
        MountInfo {
            mount_point: "/".into(),
            opts: vec![],
            optional: optional.iter().map(|s| s.to_string()).collect(),
            fstype: "ext4".into(),
            super_opts: vec![],
        }
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("65536k"), Some(65536 * 1024));
        assert_eq!(parse_size("2m"), Some(2 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn propagation_comes_from_optional_fields() {
        assert_eq!(propagation(&mi(&["shared:3"])), "shared");
        assert_eq!(propagation(&mi(&["master:1"])), "slave");
        assert_eq!(propagation(&mi(&["unbindable"])), "unbindable");
        assert_eq!(propagation(&mi(&[])), "private");
    }

    #[test]
    fn device_rules_last_match_wins_and_unnamed_devices_are_undecided() {
        let cfg = json!({"linux": {"resources": {"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "r"}
        ]}}});
        let decide = cgroup_device_rules(&cfg);
        assert_eq!(
            decide(&json!({"type": "c", "major": 10, "minor": 229})),
            Some(false)
        );
        assert_eq!(
            decide(&json!({"type": "c", "major": 10, "minor": 200})),
            Some(true)
        );
        assert_eq!(decide(&json!({"type": "c", "major": 1, "minor": 3})), None);
    }

    #[test]
    fn device_numbers_split_like_the_kernel() {
        // makedev(10, 229) and a large minor.
        assert_eq!((major(0xae5), minor(0xae5)), (10, 229));
        let dev = (259u64 << 8) | (0x12345u64 & 0xff) | ((0x12345u64 & !0xff) << 12);
        assert_eq!((major(dev), minor(dev)), (259, 0x12345));
    }
}
