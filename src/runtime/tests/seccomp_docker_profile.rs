//! Docker's default profile on the real kernel: it compiles, busybox works under it, what it
//! denies stays denied, and glibc's clone3 -> clone fallback works when a profile predates
//! clone3 (the ENOSYS rule).

mod seccomp_common;

use berth_runtime::seccomp::{self, Filter};
use nix::sys::wait::WaitStatus;
use seccomp_common::*;
use serde_json::Value;
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

const BUSYBOX: &str = "/usr/bin/busybox";
const HELPER_ENV: &str = "BERTH_SECCOMP_HELPER";

/// Forks, installs `filter`, and execs `argv` with stdout+stderr in a temp file.
fn exec_filtered(filter: &Filter, argv: &[&str], env: &[(&str, &str)]) -> (WaitStatus, String) {
    let out_path = std::env::temp_dir().join(format!(
        "berth-seccomp-out-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let out = std::fs::File::create(&out_path).expect("output file");
    // Everything the child needs is built before fork: it must not allocate.
    let cargs: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut argp: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    argp.push(std::ptr::null());
    let mut cenv: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap()
        })
        .collect();
    for (k, v) in env {
        cenv.push(CString::new(format!("{k}={v}")).unwrap());
    }
    let mut envp: Vec<*const libc::c_char> = cenv.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let out_fd = out.as_raw_fd();

    let st = in_child(|| {
        // SAFETY: dup2/execve with pointers into the parent-built, still-alive vectors.
        unsafe {
            libc::dup2(out_fd, 1);
            libc::dup2(out_fd, 2);
        }
        if seccomp::install(filter).is_err() {
            return 100;
        }
        unsafe { libc::execve(argp[0], argp.as_ptr(), envp.as_ptr()) };
        101
    });
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    (st, text)
}

#[test]
fn docker_default_profile_runs_busybox_and_denies_the_rest() {
    if not_root() || !std::path::Path::new(BUSYBOX).exists() {
        eprintln!("skipped: needs root and {BUSYBOX}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("berth-seccomp-docker-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("mnt")).unwrap();
    let script = format!(
        r#"set -e
cd {dir}
echo hello > f; grep -q hello f
mkdir d; mv f d/g; ls d | grep -q g; rm -r d
ps > /dev/null; id > /dev/null; uname -a > /dev/null; date > /dev/null
seq 1 3 | sort -r | head -1 | grep -q 3
sh -c 'exit 3' || [ $? = 3 ]
grep -q 'Seccomp:.*2' /proc/self/status
grep -q 'Seccomp_filters:.*1' /proc/self/status
if unshare -U true 2>/dev/null; then echo 'unshare was allowed'; exit 20; fi
if mount -t tmpfs none {dir}/mnt 2>/dev/null; then umount {dir}/mnt; echo 'mount was allowed'; exit 21; fi
if chroot / true; then :; else echo 'chroot was denied'; exit 22; fi
echo ok"#,
        dir = dir.display()
    );
    let f = seccomp::compile(&profile(
        serde_json::from_str::<Value>(DOCKER_DEFAULT).unwrap(),
    ))
    .expect("docker profile compiles");
    let (st, out) = exec_filtered(&f, &[BUSYBOX, "sh", "-c", &script], &[]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(exited(st), Some(0), "{st:?}: {out}");
    assert!(out.ends_with("ok\n"), "{out}");
}

/// Docker's profile as it was before clone3 existed: no clone3 rule, nothing newer named.
fn pre_clone3_profile(clone3_action: Option<&str>) -> Filter {
    const NEWER: &[&str] = &[
        "close_range",
        "openat2",
        "pidfd_getfd",
        "faccessat2",
        "process_madvise",
        "epoll_pwait2",
        "mount_setattr",
        "quotactl_fd",
        "landlock_add_rule",
        "landlock_create_ruleset",
        "landlock_restrict_self",
        "memfd_secret",
        "process_mrelease",
        "futex_waitv",
        "set_mempolicy_home_node",
        "clone3",
    ];
    let mut p: Value = serde_json::from_str(DOCKER_DEFAULT).unwrap();
    let rules = p["syscalls"].as_array_mut().unwrap();
    for r in rules.iter_mut() {
        let names = r["names"].as_array_mut().unwrap();
        names.retain(|n| !NEWER.contains(&n.as_str().unwrap()));
    }
    rules.retain(|r| !r["names"].as_array().unwrap().is_empty());
    if let Some(action) = clone3_action {
        rules.push(serde_json::json!({"names": ["clone3"], "action": action}));
    }
    seccomp::compile(&profile(p)).expect("profile compiles")
}

fn run_helper(filter: &Filter, mode: &str) -> (WaitStatus, String) {
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    exec_filtered(
        filter,
        &[
            exe,
            "--exact",
            "helper_in_filtered_process",
            "--nocapture",
            "--test-threads=1",
        ],
        &[(HELPER_ENV, mode)],
    )
}

#[test]
fn threads_start_under_a_profile_older_than_clone3() {
    if not_root() {
        return;
    }
    // clone3 is not named and above the profile's newest syscall: ENOSYS, glibc falls back
    // to clone, which the profile allows for threads.
    let (st, out) = run_helper(&pre_clone3_profile(None), "enosys");
    assert_eq!(exited(st), Some(0), "{st:?}: {out}");
    assert!(out.contains("helper ok"), "{out}");

    // Control: answering clone3 with EPERM (what the default action would do without the
    // ENOSYS rule) breaks thread creation.
    let (st, out) = run_helper(&pre_clone3_profile(Some("SCMP_ACT_ERRNO")), "eperm");
    assert_ne!(exited(st), Some(0), "{st:?}: {out}");
    assert!(out.contains("Operation not permitted"), "{out}");
}

/// Runs inside the filtered, re-executed test binary (does nothing in a normal test run).
#[test]
fn helper_in_filtered_process() {
    let Ok(mode) = std::env::var(HELPER_ENV) else {
        return;
    };
    let clone3 = sys(libc::SYS_clone3, [0; 6]);
    if mode == "enosys" {
        assert_eq!(clone3, Err(libc::ENOSYS));
    }
    let t = std::thread::Builder::new()
        .spawn(|| 6 * 7)
        .expect("thread spawn");
    assert_eq!(t.join().unwrap(), 42);
    let st = std::process::Command::new(BUSYBOX)
        .arg("true")
        .status()
        .expect("spawn busybox");
    assert!(st.success());
    println!("helper ok");
}
