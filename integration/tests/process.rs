//! The container process and environment match config.json: user, env, cwd, caps, limits,
//! namespaces, hostname, sysctls, mounts, devices, masked and read-only paths.

use berth_integration::*;
use serde_json::json;

#[test]
fn env_cwd_and_user_are_applied() {
    let mut e = Env::new("user");
    e.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin:/sbin", "FOO=bar"]);
        c["process"]["cwd"] = "/tmp".into();
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 33], "umask": 63});
    });
    e.sh("echo $FOO; pwd; id -u; id -g; id -G; umask; echo $HOME");
    let out = e.output();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "bar");
    assert_eq!(lines[1], "/tmp");
    assert_eq!(lines[2], "1000");
    assert_eq!(lines[3], "1000");
    let groups: Vec<&str> = lines[4].split(' ').collect();
    assert!(
        groups.contains(&"10") && groups.contains(&"33"),
        "{groups:?}"
    );
    assert_eq!(lines[5], "0077");
    assert_eq!(
        lines[6], "/home/user",
        "HOME from the container's /etc/passwd"
    );
}

#[test]
fn hostname_and_domainname_are_set() {
    let mut e = Env::new("host");
    e.edit(|c| {
        c["hostname"] = "box1".into();
        c["domainname"] = "example.org".into();
    });
    e.sh("hostname; cat /proc/sys/kernel/domainname");
    let want = if is_berth() {
        "box1\nexample.org\n"
    } else {
        "box1\n"
    };
    assert!(e.output().starts_with(want)); // runc 1.1 ignores domainname
}

fn status_field(out: &str, key: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
        .unwrap_or_default()
}

#[test]
fn capabilities_are_exactly_the_configured_sets() {
    let mut e = Env::new("caps");
    e.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        });
        c["process"]["noNewPrivileges"] = true.into();
    });
    e.args(&["cat", "/proc/self/status"]);
    let out = e.output();
    // cat is exec'd by nobody else: the init's sets show through execve (ambient kept).
    assert_eq!(status_field(&out, "CapBnd:"), "0000000000002021");
    assert_eq!(status_field(&out, "CapAmb:"), "0000000000000020");
    assert_eq!(status_field(&out, "CapInh:"), "0000000000000020");
    assert_eq!(status_field(&out, "CapPrm:"), "0000000000000021");
    assert_eq!(status_field(&out, "CapEff:"), "0000000000000021");
    assert_eq!(status_field(&out, "NoNewPrivs:"), "1");
}

#[test]
fn no_new_privileges_off_is_off() {
    let mut e = Env::new("nnp");
    e.edit(|c| c["process"]["noNewPrivileges"] = false.into());
    e.args(&["cat", "/proc/self/status"]);
    assert_eq!(status_field(&e.output(), "NoNewPrivs:"), "0");
}

#[test]
fn rlimits_and_oom_score_adj_are_applied() {
    let mut e = Env::new("rlimit");
    e.edit(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
            {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000}
        ]);
        c["process"]["oomScoreAdj"] = 500.into();
    });
    e.sh("ulimit -n; ulimit -Hn; ulimit -u; cat /proc/self/oom_score_adj");
    assert_eq!(e.output(), "321\n654\n1000\n500\n");
}

#[test]
fn new_namespaces_differ_from_the_hosts() {
    let mut e = Env::new("ns");
    e.sh("for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done");
    let out = e.output();
    for (line, n) in out
        .lines()
        .zip(["pid", "net", "ipc", "uts", "mnt", "cgroup"])
    {
        let host = std::fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
        assert_ne!(line, host.to_str().unwrap(), "{n} namespace is the host's");
    }
    e.sh("echo $$; ls /sys/class/net");
    assert_eq!(e.output(), "1\nlo\n");
}

#[test]
fn joins_a_network_namespace_by_path() {
    let mut e = Env::new("joinns");
    let name = format!("berthit{}", std::process::id());
    let st = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap();
    assert!(st.success());
    let path = format!("/run/netns/{name}");
    e.edit(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = path.clone().into();
            }
        }
    });
    e.args(&["readlink", "/proc/self/ns/net"]);
    let out = e.output();
    let want = std::fs::read_link("/proc/self/ns/net").unwrap();
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &name])
        .status();
    assert_ne!(out.trim(), want.to_str().unwrap());
    assert!(out.starts_with("net:["));
}

#[test]
fn host_namespaces_are_kept_when_not_configured() {
    let mut e = Env::new("hostns");
    e.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network" && n["type"] != "ipc")
    });
    e.sh("readlink /proc/self/ns/net; readlink /proc/self/ns/ipc");
    let out = e.output();
    let mut l = out.lines();
    assert_eq!(
        l.next().unwrap(),
        std::fs::read_link("/proc/self/ns/net")
            .unwrap()
            .to_str()
            .unwrap()
    );
    assert_eq!(
        l.next().unwrap(),
        std::fs::read_link("/proc/self/ns/ipc")
            .unwrap()
            .to_str()
            .unwrap()
    );
}

#[test]
fn user_namespace_maps_ids() {
    let mut e = Env::new("userns");
    // The rootfs must be owned by the mapped root for the container to use it.
    let st = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(e.bundle.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    e.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
    });
    e.sh("id -u; cat /proc/self/uid_map; cat /proc/self/gid_map");
    let out = e.output();
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "100000", "65536", "0", "100000", "65536"]);
}

#[test]
fn sysctls_are_written() {
    let mut e = Env::new("sysctl");
    e.edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "2048"}));
    e.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni");
    assert_eq!(e.output(), "1\n2048\n");
}

#[test]
fn readonly_root_and_paths_are_enforced() {
    let mut e = Env::new("ro");
    e.edit(|c| c["root"]["readonly"] = true.into());
    e.sh("touch /x 2>/dev/null && echo rw || echo ro; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo rw || echo ro; touch /dev/shm/x && echo shm-rw");
    assert_eq!(e.output(), "ro\nro\nshm-rw\n");
    e.edit(|c| c["root"]["readonly"] = false.into());
    e.sh("touch /x && echo rw");
    assert_eq!(e.output(), "rw\n");
}

#[test]
fn masked_paths_hide_host_data() {
    let mut e = Env::new("mask");
    // Only paths this kernel has can be checked (it has no /proc/kcore, for one).
    let files: Vec<&str> = [
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/kcore",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    assert!(!files.is_empty());
    let script: String = files
        .iter()
        .map(|f| format!("wc -c < {f}; "))
        .collect::<String>()
        + "ls /sys/firmware | wc -l";
    e.sh(&script);
    assert_eq!(e.output(), "0\n".repeat(files.len() + 1));
}

#[test]
fn default_devices_and_symlinks_exist() {
    let mut e = Env::new("dev");
    e.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/mydev", "type": "c", "major": 1, "minor": 5, "fileMode": 0o664, "uid": 1000, "gid": 1000}]);
        // Like runc, a node in linux.devices is not allowed by the device cgroup by itself.
        c["linux"]["resources"]["devices"].as_array_mut().unwrap().push(json!({"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}));
    });
    e.sh("for d in null zero full random urandom tty mydev; do stat -c '%n %F %t:%T %a %u' /dev/$d; done; readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx; head -c 4 /dev/mydev | wc -c; echo x > /dev/null && echo ok");
    let out = e.output();
    assert!(
        out.contains("/dev/null character special file 1:3 666 0"),
        "{out}"
    );
    assert!(
        out.contains("/dev/tty character special file 5:0 666 0"),
        "{out}"
    );
    assert!(
        out.contains("/dev/mydev character special file 1:5 664 1000"),
        "{out}"
    );
    assert!(
        out.contains("/proc/self/fd\n/proc/self/fd/0\npts/ptmx\n4\nok\n"),
        "{out}"
    );
}

#[test]
fn mounts_bind_tmpfs_and_options() {
    let mut e = Env::new("mounts");
    let host = e.dir.join("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("hello"), "from host\n").unwrap();
    e.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "bind", "source": host.to_str().unwrap(), "options": ["rbind", "ro"]}));
        m.push(json!({"destination": "/rw", "type": "bind", "source": host.to_str().unwrap(), "options": ["bind", "rw"]}));
        m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700", "noexec"]}));
    });
    e.sh("cat /data/hello; touch /data/x 2>/dev/null && echo rw || echo ro; echo hi > /rw/new; stat -c %a /scratch; grep ' /scratch ' /proc/self/mountinfo | grep -c noexec");
    assert_eq!(e.output(), "from host\nro\n700\n1\n");
    assert_eq!(std::fs::read_to_string(host.join("new")).unwrap(), "hi\n");
}

#[test]
fn cgroup_mount_shows_the_containers_cgroups() {
    let mut e = Env::new("cgmount");
    e.sh("ls /sys/fs/cgroup | sort | tr '\\n' ' '; cat /proc/self/cgroup | grep memory");
    let out = e.output();
    assert!(out.contains("memory") && out.contains("pids"), "{out}");
    assert!(out.contains(":memory:/\n"), "cgroup namespace root: {out}");
}

#[test]
fn preserve_fds_passes_extra_fds() {
    let mut e = Env::new("pfds");
    e.sh("ls /proc/self/fd | sort -n | tr '\\n' ' '");
    let id = e.id("pfd");
    let f = std::fs::File::open("/etc/hostname").unwrap();
    let mut cmd = e.cmd();
    cmd.args(["run", "--preserve-fds", "1", &id]);
    use std::os::fd::AsRawFd;
    let raw = f.as_raw_fd();
    // SAFETY: dup2 in the forked child before exec, onto fd 3.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::dup2(raw, 3);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ls has its own directory fd open too; 3 must be there, nothing beyond 4.
    let fds = String::from_utf8_lossy(&out.stdout);
    assert!(fds.starts_with("0 1 2 3 "), "{fds}");
    assert!(!fds.contains(" 5 "), "{fds}");
}

#[test]
fn no_host_fd_leaks_into_the_container() {
    let mut e = Env::new("fdleak");
    e.sh("ls /proc/self/fd | sort -n | tr '\\n' ' '");
    let id = e.id("leak");
    let f = std::fs::File::open("/").unwrap();
    let mut cmd = e.cmd();
    cmd.args(["run", &id]);
    use std::os::fd::AsRawFd;
    let raw = f.as_raw_fd();
    // SAFETY: dup2 in the forked child before exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::dup2(raw, 7);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    // 0, 1, 2 and ls's own directory fd: the host's fd 7 is not there.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0 1 2 3");
}

#[test]
fn time_namespace_offsets_shift_boottime() {
    let mut e = Env::new("timens");
    e.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
    });
    e.sh("cut -d. -f1 /proc/uptime");
    let inside: u64 = e.output().trim().parse().unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        inside >= host as u64 + 864000 - 5,
        "uptime {inside} vs host {host}"
    );
}

#[test]
fn personality_linux32_changes_uname() {
    let mut e = Env::new("persona");
    e.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    e.args(&["uname", "-m"]);
    assert_eq!(e.output(), "i686\n");
}

#[test]
fn no_pivot_runs_with_chroot() {
    let mut e = Env::new("nopivot");
    e.sh("cat /etc/hostname; ls /");
    let id = e.id("np");
    let out = e.ok(&["run", "--no-pivot", &id]);
    assert!(out.starts_with("berth\n"), "{out}");
    assert!(!out.contains("work"), "host root visible: {out}");
    e.assert_clean();
}

#[test]
fn scheduler_and_io_priority_are_applied() {
    if !is_berth() {
        return; // runc 1.1 predates both fields
    }
    let mut e = Env::new("sched");
    e.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    });
    // Field 19 of /proc/self/stat is nice, 41 the policy (3 = SCHED_BATCH).
    e.sh("cut -d' ' -f19,41 /proc/self/stat");
    assert_eq!(e.output(), "5 3\n");
    e.edit(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_NOPE"}));
    let id = e.id("bad");
    let err = e.fails(&["create", &id]);
    assert!(err.contains("unknown scheduler policy"), "{err}");
    e.assert_clean();
}
