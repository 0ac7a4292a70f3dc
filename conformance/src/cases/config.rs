//! config.md: root, mounts, process, hostname, annotations, extensibility, valid values.

use super::{always, jq, reject_if, Bundle, Case, Ctx, Kind, Outcome};
use crate::ensure;
use crate::host::Host;
use serde_json::{json, Value};

fn push_mount(cfg: &mut Value, m: Value) {
    if let Some(a) = cfg["mounts"].as_array_mut() {
        a.push(m);
    }
}

fn write(path: &std::path::Path, text: &str) {
    if let Some(p) = path.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    let _ = std::fs::remove_file(path);
    let _ = std::fs::write(path, text);
}

fn baseline(_: &mut Ctx, _: &mut Bundle, _: &mut Value) {}

/// A second root filesystem in the bundle, with another marker: a runtime that mounts the
/// wrong directory shows the wrong marker.
fn alt_rootfs(ctx: &mut Ctx, b: &mut Bundle) {
    let alt = b.dir.join("rootfs2");
    let _ = std::process::Command::new("cp")
        .arg("-al")
        .arg(ctx.base_rootfs)
        .arg(&alt)
        .status();
    let _ = std::fs::create_dir_all(alt.join("conformance"));
    let _ = std::fs::hard_link(ctx.checker, alt.join("conformance/checker"));
    write(&alt.join("conformance/rootfs-marker"), "wrong-rootfs");
    b.mirrors.push(alt);
}

fn root_relative(ctx: &mut Ctx, b: &mut Bundle, _: &mut Value) {
    alt_rootfs(ctx, b);
}

fn root_absolute(ctx: &mut Ctx, b: &mut Bundle, cfg: &mut Value) {
    alt_rootfs(ctx, b);
    cfg["root"]["path"] = json!(b.rootfs.to_string_lossy());
}

fn root_missing(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["root"]["path"] = json!("no-such-rootfs");
}

fn root_writable(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["root"]["readonly"] = json!(false);
}

fn mount_options(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    push_mount(
        cfg,
        json!({"destination": "/opts", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "noatime", "mode=1750", "size=1m"]}),
    );
    push_mount(
        cfg,
        json!({"destination": "/opts-ro", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "relatime", "nodiratime"]}),
    );
    push_mount(
        cfg,
        json!({"destination": "/opts-exec", "type": "tmpfs", "source": "tmpfs", "options": ["exec", "dev", "suid", "strictatime", "rw"]}),
    );
}

fn mount_bind(ctx: &mut Ctx, b: &mut Bundle, cfg: &mut Value) {
    // Absolute source outside the bundle, relative source inside it, a file, and a
    // destination that does not exist in the rootfs yet.
    let abs = ctx.dir.join("bind-src");
    write(
        &abs.join(".conformance-marker"),
        &format!("marker-abs-{}", ctx.tag),
    );
    write(
        &b.dir.join("rel-src/.conformance-marker"),
        &format!("marker-rel-{}", ctx.tag),
    );
    write(&b.dir.join("file-src"), &format!("marker-file-{}", ctx.tag));
    write(&b.rootfs.join("etc/bound-file"), "original");
    push_mount(
        cfg,
        json!({"destination": "/bind-dir", "type": "bind", "source": abs.to_string_lossy(), "options": ["rbind", "ro"]}),
    );
    push_mount(
        cfg,
        json!({"destination": "/new/deep/dir", "type": "none", "source": "rel-src", "options": ["bind", "rw", "nosuid"]}),
    );
    push_mount(
        cfg,
        json!({"destination": "/etc/bound-file", "type": "bind", "source": "file-src", "options": ["bind", "ro"]}),
    );
}

fn mount_order(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    push_mount(
        cfg,
        json!({"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    push_mount(
        cfg,
        json!({"destination": "/m/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]}),
    );
    push_mount(
        cfg,
        json!({"destination": "/same", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    push_mount(
        cfg,
        json!({"destination": "/same", "type": "tmpfs", "source": "tmpfs", "options": ["size=3m"]}),
    );
}

fn mount_relative_dest(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    push_mount(
        cfg,
        json!({"destination": "relative-dest", "type": "tmpfs", "source": "tmpfs"}),
    );
}

fn args(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["args"] = json!([
        crate::spec::CHECKER,
        "with space",
        "",
        "--flag=x",
        "ünïcode"
    ]);
}

fn args_path(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["args"] = json!(["checker"]);
    cfg["process"]["env"] = json!(["PATH=/bin:/conformance"]);
}

fn args_empty(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["args"] = json!([]);
}

fn cwd(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["cwd"] = json!("/home/user");
}

fn cwd_relative(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["cwd"] = json!("home");
}

fn env(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["env"] = json!([
        "PATH=/bin",
        "EMPTY=",
        "WITH_EQ=a=b",
        "SPACES=a b  c",
        "lower_case=1"
    ]);
}

fn user(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 5]});
}

fn umask(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["user"]["umask"] = json!(0o027);
}

fn io_priority(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
}

fn scheduler(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
}

fn rlimits(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
        {"type": "RLIMIT_MSGQUEUE", "soft": 8192, "hard": 16384},
        {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000}
    ]);
}

fn rlimits_invalid(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_CONFORMANCE_BOGUS", "soft": 1, "hard": 1}]);
}

fn rlimits_duplicate(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}, {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 256}]);
}

fn caps(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    let set = json!([
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID"
    ]);
    cfg["process"]["capabilities"] = json!({
        "bounding": set, "permitted": set, "effective": set,
        "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
    });
}

fn caps_nonroot(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    let set = json!(["CAP_NET_BIND_SERVICE"]);
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    cfg["process"]["capabilities"] = json!({"bounding": set, "permitted": set, "effective": set, "inheritable": set, "ambient": set});
}

fn caps_unknown(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    for set in ["bounding", "permitted", "effective"] {
        if let Some(a) = cfg["process"]["capabilities"][set].as_array_mut() {
            a.push(json!("CAP_CONFORMANCE_BOGUS"));
        }
    }
}

fn nnp_false(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["noNewPrivileges"] = json!(false);
}

fn oom(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["oomScoreAdj"] = json!(500);
}

fn oom_zero(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["oomScoreAdj"] = json!(0);
}

fn oom_negative(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["oomScoreAdj"] = json!(-500);
}

fn need_sys_resource(h: &Host) -> Option<String> {
    (!h.cap_sys_resource)
        .then(|| "no CAP_SYS_RESOURCE on this host: a negative oom_score_adj cannot be set".into())
}

fn apparmor(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["apparmorProfile"] = json!("conformance-no-such-profile");
}

fn need_apparmor(h: &Host) -> Option<String> {
    (!h.apparmor).then(|| "no AppArmor on this host (securityfs has no apparmor)".into())
}

fn selinux(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["selinuxLabel"] = json!("system_u:system_r:conformance_no_such_t:s0");
}

fn need_selinux(h: &Host) -> Option<String> {
    (!h.selinux).then(|| "SELinux is not active on this host".into())
}

fn console_size(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["process"]["consoleSize"] = json!({"height": 25, "width": 80});
}

/// rro: a bind mount with a submount must be read-only all the way down (spec 1.1).
fn recursive_read_only(ctx: &mut Ctx) -> Outcome {
    let mut b = ctx.bundle()?;
    let src = b.dir.join("rro-src");
    let sub = src.join("sub");
    std::fs::create_dir_all(&sub).map_err(anyhow::Error::from)?;
    let token = format!("marker-rro-{}", ctx.tag);
    write(&src.join(".conformance-marker"), &token);
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&sub)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        return super::skip("cannot mount a tmpfs for the submount");
    }
    let res = (|| {
        let mut cfg = crate::spec::base();
        push_mount(
            &mut cfg,
            json!({"destination": "/rro", "type": "bind", "source": src.to_string_lossy(), "options": ["rbind", "rro"]}),
        );
        b.marker("/rro", &token);
        ctx.write_config(&b, &cfg)?;
        let l = ctx.launch(&b, "rro")?;
        ctx.finish_checker(&l, &b)
    })();
    ctx.cleanup();
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(&sub)
        .status();
    res
}

/// terminal: true, with the pty master received over --console-socket and read here.
fn terminal(ctx: &mut Ctx) -> Outcome {
    let b = ctx.bundle()?;
    let mut cfg = crate::spec::base();
    cfg["process"]["terminal"] = json!(true);
    cfg["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    ctx.write_config(&b, &cfg)?;
    let sock_path = ctx.dir.join("console.sock");
    let sock = crate::console::ConsoleSocket::bind(&sock_path)?;
    let id = ctx.id("tty");
    let sock_arg = sock_path.to_string_lossy().into_owned();
    let o = ctx.create_with(&id, &b, &["--console-socket", &sock_arg])?;
    ensure!(o.ok, "create with a console socket failed: {}", o.brief());
    let master = sock.receive(std::time::Duration::from_secs(5))?;
    let pid = ctx.state(&id)?["pid"].as_i64().unwrap_or(0) as i32;
    let reader = std::thread::spawn(move || {
        crate::console::read_all(master, std::time::Duration::from_secs(10))
    });
    let s = ctx.start(&id)?;
    ensure!(s.ok, "start failed: {}", s.brief());
    ctx.wait(
        &super::Launched {
            id: id.clone(),
            pid,
        },
        std::time::Duration::from_secs(10),
    )?;
    let out = reader.join().unwrap_or_default();
    let report = crate::tap::parse(&out);
    ensure!(
        report.complete,
        "no complete TAP output on the terminal: {:?}",
        out.chars().take(300).collect::<String>()
    );
    ensure!(report.failures.is_empty(), "{}", report.failures.join("; "));
    Ok(())
}

fn hostname(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["hostname"] = json!("conformance-host");
}

fn domainname(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["domainname"] = json!("conformance.example");
}

fn unknown_props(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["conformanceUnknown"] = json!({"nested": [1, 2]});
    cfg["process"]["conformanceUnknown"] = json!(true);
    cfg["linux"]["conformanceUnknown"] = json!("x");
}

fn unknown_annotation(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["annotations"] = json!({"org.example.unknown.key": "v", "com.example.empty": ""});
}

fn bad_version(_: &mut Ctx, _: &mut Bundle, cfg: &mut Value) {
    cfg["ociVersion"] = json!("not-a-version");
}

pub fn cases() -> Vec<Case> {
    let ck = |name, spec, f, sabotage| Case {
        name,
        spec,
        needs: always,
        kind: Kind::Checker(f),
        sabotage,
    };
    let rj = |name, spec, f, sabotage| Case {
        name,
        spec,
        needs: always,
        kind: Kind::Rejected(f),
        sabotage,
    };
    let mut v = vec![
        ck("config.mounts.default-filesystems", "config.md#mounts: entries mounted; config-linux.md#default-filesystems: /proc, /sys, /dev/pts, /dev/shm SHOULD be available", baseline as fn(&mut Ctx, &mut Bundle, &mut Value), jq(".mounts |= map(select(.destination != \"/dev/mqueue\"))")),
        ck("config.root.path-relative", "config.md#root: path relative to the bundle; a directory MUST exist at the path", root_relative, jq(".root.path = \"rootfs2\"")),
        ck("config.root.path-absolute", "config.md#root: path may be absolute", root_absolute, jq(".root.path = (.root.path | sub(\"rootfs$\"; \"rootfs2\"))")),
        rj("config.root.path-missing-rejected", "config.md#root: a directory MUST exist at the path", root_missing, jq(".root.path = \"rootfs\"")),
        ck("config.root.readonly", "config.md#root: readonly true: the root filesystem MUST be read-only", baseline, jq(".root.readonly = false")),
        ck("config.root.writable", "config.md#root: readonly false: writable root", root_writable, jq(".root.readonly = true")),
        ck("config.mounts.options", "config.md#mounts: options as in mount(8) (flags, atime, tmpfs mode/size)", mount_options, jq("(.mounts[] | select(.destination == \"/opts\") | .options) -= [\"noexec\"]")),
        ck("config.mounts.bind", "config.md#mounts: bind mounts, absolute and bundle-relative sources, files, new destinations", mount_bind, jq(".mounts |= map(select(.destination != \"/bind-dir\"))")),
        ck("config.mounts.order", "config.md#mounts: the runtime MUST mount entries in the listed order", mount_order, jq("(.mounts | map(.destination) | index(\"/same\")) as $i | .mounts[$i:$i+2] |= reverse")),
        ck("config.mounts.destination-relative", "config.md#mounts: on Linux a relative destination MAY be given and is relative to / (spec 1.2)", mount_relative_dest, jq(".mounts |= map(select(.destination != \"relative-dest\"))")),
        ck("config.process.args", "config.md#process: args with execvp semantics", args, jq(".process.args |= .[:-1]")),
        ck("config.process.args-path-lookup", "config.md#process: args[0] found through PATH as execvp's file", args_path, jq(".process.env = [\"PATH=/bin\"]")),
        rj("config.process.args-empty-rejected", "config.md#process: at least one entry in args is REQUIRED", args_empty, jq(".process.args = [\"/conformance/checker\"]")),
        ck("config.process.cwd", "config.md#process: cwd is the working directory", cwd, jq(".process.cwd = \"/\"")),
        rj("config.process.cwd-relative-rejected", "config.md#process: cwd MUST be an absolute path", cwd_relative, jq(".process.cwd = \"/home\"")),
        ck("config.process.env", "config.md#process: env with environ semantics", env, jq(".process.env |= map(select(startswith(\"WITH_EQ=\") | not))")),
        ck("config.process.user", "config.md#posix-platform-user: uid, gid, additionalGids", user, jq(".process.user.uid = 0")),
        ck("config.process.user-umask", "config.md#posix-platform-user: umask (spec 1.1)", umask, jq(".process.user.umask = 18")),
        ck("config.process.io-priority", "config.md#linux-process: ioPriority class and priority (spec 1.1)", io_priority, jq("del(.process.ioPriority)")),
        ck("config.process.scheduler", "config.md#linux-process: scheduler policy and nice (spec 1.1)", scheduler, jq("del(.process.scheduler)")),
        ck("config.process.rlimits", "config.md#posix-process: getrlimit on each type MUST succeed, rlim_cur/rlim_max MUST match", rlimits, jq("del(.process.rlimits[1])")),
        rj("config.process.rlimits-invalid-rejected", "config.md#posix-process: values that cannot be mapped MUST generate an error", rlimits_invalid, jq(".process.rlimits = []")),
        rj("config.process.rlimits-duplicate-rejected", "config.md#posix-process: duplicated types MUST generate an error", rlimits_duplicate, jq(".process.rlimits |= .[:1]")),
        ck("config.process.capabilities", "config.md#linux-process: capabilities sets (root: after execve)", caps, jq(".process.capabilities.bounding -= [\"CAP_CHOWN\"]")),
        ck("config.process.capabilities-ambient", "config.md#linux-process: ambient capabilities of a non-root process", caps_nonroot, jq("del(.process.capabilities.ambient)")),
        ck("config.process.capabilities-unknown-ignored", "config.md#linux-process: a capability that cannot be mapped or granted MUST be logged as a warning; runtimes SHOULD NOT fail (spec 1.1; 1.0 required an error)", caps_unknown, reject_if("tostring | contains(\"CAP_CONFORMANCE_BOGUS\")")),
        ck("config.process.no-new-privileges", "config.md#linux-process: noNewPrivileges true", baseline, jq(".process.noNewPrivileges = false")),
        ck("config.process.no-new-privileges-false", "config.md#linux-process: noNewPrivileges false", nnp_false, jq(".process.noNewPrivileges = true")),
        ck("config.process.oom-score-adj", "config.md#linux-process: if oomScoreAdj is set the runtime MUST set oom_score_adj", oom, jq("del(.process.oomScoreAdj)")),
        ck("config.process.oom-score-adj-unset", "config.md#linux-process: if oomScoreAdj is not set the runtime MUST NOT change oom_score_adj", baseline, jq(".process.oomScoreAdj = 7")),
        ck("config.process.oom-score-adj-zero", "config.md#linux-process: oomScoreAdj set to 0 MUST be applied (the runtime runs at 123)", oom_zero, jq("del(.process.oomScoreAdj)")),
        ck("config.process.console-size-ignored", "config.md#process: runtimes MUST ignore consoleSize if terminal is false", console_size, reject_if("(.process // {}) | has(\"consoleSize\")")),
        ck("config.hostname", "config.md#hostname: the container's hostname", hostname, jq("del(.hostname)")),
        ck("config.domainname", "config.md#domainname: the container's domainname (spec 1.1)", domainname, jq("del(.domainname)")),
        ck("config.extensibility.unknown-properties", "config.md#extensibility: runtimes MUST NOT error on unknown properties and MUST ignore them", unknown_props, reject_if("has(\"conformanceUnknown\")")),
        ck("config.annotations.unknown-key", "config.md#annotations: MUST NOT generate an error on an unknown annotation key", unknown_annotation, reject_if("(.annotations // {}) | has(\"org.example.unknown.key\")")),
        rj("config.oci-version.invalid-rejected", "config.md#specification-version: ociVersion MUST be SemVer; config.md#valid-values: invalid values MUST error", bad_version, jq(".ociVersion = \"1.0.2\"")),
    ];
    v.push(Case { name: "config.mounts.recursive-read-only", spec: "config.md#mounts: rro makes the mount and every mount below it read-only (spec 1.1 option table)", needs: always, kind: Kind::Scenario(recursive_read_only), sabotage: jq("(.mounts[] | select(.destination == \"/rro\") | .options) |= map(if . == \"rro\" then \"ro\" else . end)") });
    v.push(Case { name: "config.process.terminal", spec: "config.md#process: terminal, consoleSize; config-linux.md#default-devices: /dev/console when terminal is enabled", needs: always, kind: Kind::Scenario(terminal), sabotage: jq(".process.terminal = false") });
    v.push(Case {
        name: "config.process.oom-score-adj-negative",
        spec: "config.md#linux-process: oomScoreAdj set (negative)",
        needs: need_sys_resource,
        kind: Kind::Checker(oom_negative),
        sabotage: jq("del(.process.oomScoreAdj)"),
    });
    v.push(Case { name: "config.process.apparmor-missing-profile-rejected", spec: "config.md#linux-process: apparmorProfile; runtime.md#create: a property that cannot be applied MUST error", needs: need_apparmor, kind: Kind::Rejected(apparmor), sabotage: jq("del(.process.apparmorProfile)") });
    v.push(Case { name: "config.process.selinux-invalid-label-rejected", spec: "config.md#linux-process: selinuxLabel; runtime.md#create: a property that cannot be applied MUST error", needs: need_selinux, kind: Kind::Rejected(selinux), sabotage: jq("del(.process.selinuxLabel)") });
    v
}
