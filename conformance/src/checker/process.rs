//! Checks of `process`: args, cwd, env, user, umask, rlimits, capabilities, no_new_privs,
//! oom_score_adj, terminal, seccomp.

use crate::tap::Tap;
use serde_json::Value;
use std::collections::BTreeSet;

pub const CAPS: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

const RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

fn status_field(name: &str) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn check(tap: &mut Tap, config: &Value, host: &Value) {
    let p = &config["process"];
    check_sched(tap, p);
    check_args(tap, p);
    check_cwd_env(tap, p);
    check_user(tap, p);
    check_rlimits(tap, p);
    check_caps(tap, p);
    check_nnp_oom(tap, p, host);
    check_terminal(tap, p);
}

fn check_args(tap: &mut Tap, p: &Value) {
    let want = strings(&p["args"]);
    let got: Vec<String> = std::env::args().collect();
    tap.eq("process.args", got, want);
}

fn check_cwd_env(tap: &mut Tap, p: &Value) {
    if let Some(cwd) = p["cwd"].as_str() {
        let got = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        tap.eq("process.cwd", got.as_str(), cwd);
    }
    let have: BTreeSet<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    for e in strings(&p["env"]) {
        tap.check(
            &format!("process.env has {e}"),
            have.contains(&e),
            format!("environment is {have:?}"),
        );
    }
}

fn check_user(tap: &mut Tap, p: &Value) {
    let u = &p["user"];
    // SAFETY: these getters have no preconditions.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    if let Some(want) = u["uid"].as_u64() {
        tap.eq("process.user.uid", (uid as u64, euid as u64), (want, want));
    }
    if let Some(want) = u["gid"].as_u64() {
        tap.eq("process.user.gid", (gid as u64, egid as u64), (want, want));
    }
    let mut groups = vec![0 as libc::gid_t; 256];
    // SAFETY: the buffer holds 256 entries, as passed.
    let n = unsafe { libc::getgroups(256, groups.as_mut_ptr()) };
    let got: BTreeSet<u64> = groups[..n.max(0) as usize]
        .iter()
        .map(|g| *g as u64)
        .collect();
    if let Some(extra) = u["additionalGids"].as_array() {
        let want: BTreeSet<u64> = extra.iter().filter_map(|g| g.as_u64()).collect();
        let mut allowed = want.clone();
        allowed.extend(u["gid"].as_u64());
        tap.check(
            "process.user.additionalGids",
            want.is_subset(&got) && got.is_subset(&allowed),
            format!("supplementary groups {got:?}, want {want:?}"),
        );
    }
    if let Some(want) = u["umask"].as_u64() {
        // SAFETY: umask cannot fail; the old value is restored right away.
        let got = unsafe {
            let old = libc::umask(0o022);
            libc::umask(old);
            old
        };
        tap.eq(
            "process.user.umask",
            format!("{:04o}", got),
            format!("{:04o}", want),
        );
    }
}

fn check_rlimits(tap: &mut Tap, p: &Value) {
    for r in p["rlimits"].as_array().into_iter().flatten() {
        let ty = r["type"].as_str().unwrap_or("");
        let Some(res) = RLIMITS.iter().position(|n| *n == ty) else {
            tap.check(
                &format!("process.rlimits {ty}"),
                false,
                "unknown rlimit type in config",
            );
            continue;
        };
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: lim is a valid out-pointer; the resource number comes from the table above.
        let rc = unsafe { libc::getrlimit(res as _, &mut lim) };
        tap.check(
            &format!("process.rlimits {ty} getrlimit succeeds"),
            rc == 0,
            "getrlimit failed",
        );
        let want = (
            r["soft"].as_u64().unwrap_or(0),
            r["hard"].as_u64().unwrap_or(0),
        );
        tap.eq(
            &format!("process.rlimits {ty} soft,hard"),
            (lim.rlim_cur, lim.rlim_max),
            want,
        );
    }
}

fn cap_mask(v: &Value) -> u64 {
    strings(v)
        .iter()
        .filter_map(|n| CAPS.iter().position(|c| n.strip_prefix("CAP_") == Some(c)))
        .fold(0, |m, bit| m | (1u64 << bit))
}

fn cap_names(mask: u64) -> String {
    let names: Vec<&str> = (0..64)
        .filter(|b| mask & (1 << b) != 0)
        .map(|b| CAPS.get(b).copied().unwrap_or("?"))
        .collect();
    format!("[{}]", names.join(","))
}

fn check_caps(tap: &mut Tap, p: &Value) {
    let caps = &p["capabilities"];
    if !caps.is_object() {
        return;
    }
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let known = if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    };
    let read = |f: &str| {
        status_field(f)
            .and_then(|v| u64::from_str_radix(&v, 16).ok())
            .unwrap_or(u64::MAX)
    };
    let b = cap_mask(&caps["bounding"]) & known;
    let i = cap_mask(&caps["inheritable"]) & known;
    let a = cap_mask(&caps["ambient"]) & known;
    // What the runtime sets is transformed by execve(2) (capabilities(7)): a root process gets
    // permitted = bounding | inheritable | ambient and effective = permitted; any other user
    // (no file capabilities on the checker) keeps only the ambient set in both.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let (prm, eff) = if root { (b | i | a, b | i | a) } else { (a, a) };
    let mut one = |name: &str, field: &str, want: u64, configured: bool| {
        if configured {
            let got = read(field);
            tap.check(
                &format!("process.capabilities.{name}"),
                got == want,
                format!("{field} {} want {}", cap_names(got), cap_names(want)),
            );
        }
    };
    one("bounding", "CapBnd", b, caps.get("bounding").is_some());
    one(
        "inheritable",
        "CapInh",
        i,
        caps.get("inheritable").is_some(),
    );
    one("ambient", "CapAmb", a, caps.get("ambient").is_some());
    one(
        "permitted (after execve)",
        "CapPrm",
        prm,
        caps.get("permitted").is_some(),
    );
    one(
        "effective (after execve)",
        "CapEff",
        eff,
        caps.get("effective").is_some(),
    );
}

fn check_nnp_oom(tap: &mut Tap, p: &Value, host: &Value) {
    let nnp = status_field("NoNewPrivs").unwrap_or_default();
    let want = if p["noNewPrivileges"].as_bool() == Some(true) {
        "1"
    } else {
        "0"
    };
    tap.eq("process.noNewPrivileges", nnp.as_str(), want);

    let got: Option<i64> = std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    match p["oomScoreAdj"].as_i64() {
        Some(want) => tap.eq("process.oomScoreAdj set", got, Some(want)),
        None => tap.eq(
            "process.oomScoreAdj unset leaves the runtime's value",
            got,
            host["oom_score_adj"].as_i64(),
        ),
    }
}

fn check_terminal(tap: &mut Tap, p: &Value) {
    let terminal = p["terminal"].as_bool() == Some(true);
    // SAFETY: isatty only inspects the descriptor.
    let ttys: Vec<bool> = (0..3).map(|fd| unsafe { libc::isatty(fd) } == 1).collect();
    if !terminal {
        tap.eq(
            "process.terminal false: stdout is not a tty",
            ttys[1],
            false,
        );
        return;
    }
    tap.eq(
        "process.terminal: stdin, stdout, stderr are a tty",
        ttys,
        vec![true, true, true],
    );
    use std::os::unix::fs::FileTypeExt;
    let console = std::fs::metadata("/dev/console")
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(false);
    tap.check(
        "/dev/console is the terminal (char device)",
        console,
        "/dev/console missing or not a char device",
    );
    if let (Some(h), Some(w)) = (
        p["consoleSize"]["height"].as_u64(),
        p["consoleSize"]["width"].as_u64(),
    ) {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: ws is a valid winsize out-pointer for TIOCGWINSZ.
        unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
        tap.eq(
            "process.consoleSize",
            (ws.ws_row as u64, ws.ws_col as u64),
            (h, w),
        );
    }
}

pub fn check_seccomp(tap: &mut Tap, config: &Value, host: &Value) {
    let sc = &config["linux"]["seccomp"];
    let mode = status_field("Seccomp").unwrap_or_default();
    if !sc.is_object() {
        let want = host["seccomp"].as_str().unwrap_or("0");
        tap.eq("linux.seccomp unset: mode unchanged", mode.as_str(), want);
        return;
    }
    tap.eq(
        "linux.seccomp: filter installed (mode 2)",
        mode.as_str(),
        "2",
    );
    if sc["defaultAction"].as_str() != Some("SCMP_ACT_ALLOW") {
        tap.skip(
            "linux.seccomp probes",
            "probes need defaultAction SCMP_ACT_ALLOW",
        );
        return;
    }
    for rule in sc["syscalls"].as_array().into_iter().flatten() {
        if rule["action"].as_str() != Some("SCMP_ACT_ERRNO") {
            continue;
        }
        let errno = rule["errnoRet"].as_i64().unwrap_or(libc::EPERM as i64) as i32;
        for name in strings(&rule["names"]) {
            probe(tap, &name, rule, errno);
        }
    }
}

fn raw(nr: libc::c_long, arg: libc::c_long) -> (libc::c_long, i32) {
    // SAFETY: only called with getppid/getpgid, which take at most one integer argument.
    let rc = unsafe { libc::syscall(nr, arg) };
    (
        rc,
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

/// Calls a harmless syscall named by an ERRNO rule and checks the rule's errno comes back.
fn probe(tap: &mut Tap, name: &str, rule: &Value, errno: i32) {
    let args = rule["args"].as_array().cloned().unwrap_or_default();
    match name {
        "getppid" if args.is_empty() => {
            let (rc, e) = raw(libc::SYS_getppid, 0);
            tap.check(
                "linux.seccomp: getppid denied with errnoRet",
                rc == -1 && e == errno,
                format!("rc {rc} errno {e}, want errno {errno}"),
            );
        }
        "getpgid"
            if args.len() == 1
                && args[0]["index"].as_u64() == Some(0)
                && args[0]["op"].as_str() == Some("SCMP_CMP_EQ") =>
        {
            let v = args[0]["value"].as_i64().unwrap_or(0);
            let (rc, e) = raw(libc::SYS_getpgid, v as libc::c_long);
            tap.check(
                "linux.seccomp: getpgid(value) matched by args rule",
                rc == -1 && e == errno,
                format!("rc {rc} errno {e}, want errno {errno}"),
            );
            let (rc, e) = raw(libc::SYS_getpgid, 0);
            tap.check(
                "linux.seccomp: getpgid(0) not matched by args rule",
                rc >= 0,
                format!("rc {rc} errno {e}"),
            );
        }
        _ => {}
    }
}

/// process.ioPriority and process.scheduler (spec 1.1).
fn check_sched(tap: &mut Tap, p: &Value) {
    if let Some(class) = p["ioPriority"]["class"].as_str() {
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        // SAFETY: ioprio_get takes two integers and returns the priority or -1.
        let got =
            unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0 as libc::c_long) };
        let want_class = match class {
            "IOPRIO_CLASS_RT" => 1,
            "IOPRIO_CLASS_BE" => 2,
            "IOPRIO_CLASS_IDLE" => 3,
            _ => -1,
        };
        let want = (
            want_class,
            p["ioPriority"]["priority"].as_i64().unwrap_or(0),
        );
        tap.eq(
            &format!("process.ioPriority {class}"),
            (got >> 13, got & 0x1fff),
            want,
        );
    }
    let sched = &p["scheduler"];
    if let Some(policy) = sched["policy"].as_str() {
        let names = [
            "SCHED_OTHER",
            "SCHED_FIFO",
            "SCHED_RR",
            "SCHED_BATCH",
            "SCHED_ISO",
            "SCHED_IDLE",
            "SCHED_DEADLINE",
        ];
        // SAFETY: sched_getscheduler(0) queries the calling process.
        let got = unsafe { libc::sched_getscheduler(0) };
        let got_name = names.get(got as usize).copied().unwrap_or("unknown");
        tap.eq("process.scheduler.policy", got_name, policy);
        if let Some(nice) = sched["nice"].as_i64() {
            // SAFETY: getpriority has no memory arguments.
            let got = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            tap.eq("process.scheduler.nice", got as i64, nice);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn capability_names_map_to_bits() {
        assert_eq!(cap_mask(&json!(["CAP_CHOWN", "CAP_KILL"])), 1 | (1 << 5));
        assert_eq!(cap_mask(&json!(["CAP_CONFORMANCE_BOGUS"])), 0);
        assert_eq!(cap_names(1 << 10), "[NET_BIND_SERVICE]");
    }
}
