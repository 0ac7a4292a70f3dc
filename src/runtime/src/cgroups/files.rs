//! Reading and writing cgroup control files, with errors that name the file.

use super::CgroupError;
use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> CgroupError {
    CgroupError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

/// Reads a control file, trimmed.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let p = dir.join(file);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| io_err("read", &p, e))
}

/// Reads a control file, `None` when it does not exist (controller or kernel feature absent).
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let p = dir.join(file);
    match std::fs::read_to_string(&p) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", &p, e)),
    }
}

/// Writes `value` in a single write(2), as the kernel parses each write separately.
/// Never creates the file: a missing file means the controller or feature is absent.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let p = dir.join(file);
    write_path(&p, value)
}

pub(crate) fn write_path(p: &Path, value: &str) -> Result<(), CgroupError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .map_err(|e| io_err("open", p, e))?;
    f.write_all(value.as_bytes())
        .map_err(|e| io_err_value(p, value, e))
}

fn io_err_value(p: &Path, value: &str, source: std::io::Error) -> CgroupError {
    CgroupError::Write {
        path: p.display().to_string(),
        value: value.trim().to_string(),
        source,
    }
}

/// Parses a number; "max" is `u64::MAX`, as runc does.
pub(crate) fn parse_u64(s: &str) -> u64 {
    let s = s.trim();
    if s == "max" {
        return u64::MAX;
    }
    s.parse().unwrap_or(0)
}

pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    Ok(read_opt(dir, file)?.map(|s| parse_u64(&s)).unwrap_or(0))
}

/// "key value" lines (memory.stat, cpu.stat, memory.events, ...).
pub(crate) fn read_flat_keyed(dir: &Path, file: &str) -> Result<Vec<(String, u64)>, CgroupError> {
    let Some(s) = read_opt(dir, file)? else {
        return Ok(Vec::new());
    };
    Ok(s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect())
}

pub(crate) fn keyed(v: &[(String, u64)], key: &str) -> u64 {
    v.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or(0)
}

/// PIDs listed in `dir/cgroup.procs`, then in every descendant cgroup.
pub(crate) fn pids_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let Some(procs) = read_opt(dir, "cgroup.procs")? else {
        return Ok(());
    };
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read directory", dir, e)),
    };
    for ent in rd.flatten() {
        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            pids_recursive(&ent.path(), out)?;
        }
    }
    Ok(())
}

/// Creates `dir` and any missing parents; returns the directories it created, outermost first,
/// so a failed create can remove exactly those.
pub(crate) fn mkdir_all(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(p) = cur {
        if p.is_dir() {
            break;
        }
        missing.push(p.to_path_buf());
        cur = p.parent();
    }
    missing.reverse();
    let mut created = Vec::new();
    for p in missing {
        match std::fs::create_dir(&p) {
            Ok(()) => created.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                remove_dirs(&created);
                return Err(io_err("create cgroup", &p, e));
            }
        }
    }
    Ok(created)
}

/// Removes directories created by `mkdir_all`, innermost first; best effort (cleanup path).
pub(crate) fn remove_dirs(created: &[PathBuf]) {
    for p in created.iter().rev() {
        let _ = remove_cgroup(p);
    }
}

/// Removes a cgroup and its child cgroups. EBUSY is retried briefly: the kernel releases a
/// cgroup a moment after its last process is reaped.
pub(crate) fn remove_cgroup(dir: &Path) -> Result<(), CgroupError> {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for ent in rd.flatten() {
            if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup(&ent.path())?;
            }
        }
    }
    let mut delay = std::time::Duration::from_millis(5);
    for attempt in 0.. {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 8 => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => return Err(io_err("remove cgroup", dir, e)),
        }
    }
    unreachable!()
}

/// Per-device I/O weights need a scheduler with weights on that device (BFQ; iocost for
/// v2 io.weight): say so instead of a bare EOPNOTSUPP.
pub(crate) fn device_weight_err(e: CgroupError, major: i64, minor: i64) -> CgroupError {
    match &e {
        CgroupError::Write { source, .. } if source.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            CgroupError::Unsupported(format!(
                "cannot apply blockIO.weightDevice for {major}:{minor}: its I/O scheduler has no per-device weights (use bfq)"
            ))
        }
        _ => e,
    }
}
