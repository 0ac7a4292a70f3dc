//! Regression tests for runc's container-breakout CVEs: each tries the attack and checks the
//! host is untouched.

use berth_integration::*;
use serde_json::json;
use std::os::unix::process::CommandExt;

fn digest(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// CVE-2019-5736: a process in the container holds /proc/<init>/exe while init is still the
/// runtime, then writes through it once init has exec'd.
#[test]
fn runtime_binary_cannot_be_overwritten_from_the_container() {
    let mut e = Env::new("cve5736");
    // Attack a copy, so a regression can't destroy the binary the other tests use.
    let bin = e.dir.join(runtime_bin().file_name().unwrap());
    std::fs::copy(runtime_bin(), &bin).unwrap();
    let before = digest(&bin);
    e.sh("sleep 1");
    let id = e.id("cve");
    let (root, bundle) = (e.root.clone(), e.bundle.clone());
    let rt = |args: &[&str]| {
        std::process::Command::new(&bin)
            .arg("--root")
            .arg(&root)
            .current_dir(&bundle)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    };
    assert!(rt(&["create", &id]).success());
    rt(&[
        "exec", "-d", &id, "sh", "-c",
        "exec 3</proc/1/exe; echo opened > /tmp/opened; sleep 0.3; echo pwned > /proc/self/fd/3; echo $? > /tmp/result",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(rt(&["start", &id]).success());
    std::thread::sleep(std::time::Duration::from_millis(800));
    let _ = rt(&["delete", "-f", &id]);
    assert_eq!(
        digest(&bin),
        before,
        "the runtime binary was modified from inside the container"
    );

    // The entrypoint itself is /proc/self/exe: the container runs a runtime copy that it
    // can't write to.
    e.args(&[
        "/bin/sh",
        "-c",
        "/proc/self/exe --version > /dev/null 2>&1; echo pwned > /proc/self/exe; exit 0",
    ]);
    let id = e.id("cve2");
    let _ = rt(&["run", &id]);
    assert_eq!(digest(&bin), before);
}

/// CVE-2024-21626: a cwd reached through an fd leaked from the runtime's caller must not put
/// the container process in the host's filesystem.
#[test]
fn cwd_through_leaked_fd_is_refused() {
    let mut e = Env::new("cve21626");
    e.edit(|c| c["process"]["cwd"] = "/proc/self/fd/7".into());
    e.args(&["sh", "-c", "pwd; ls"]);
    let id = e.id("cwd");
    let host_dir = std::fs::File::open("/").unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&host_dir);
    let mut cmd = e.cmd();
    cmd.args(["run", &id]);
    // SAFETY: dup2 in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(raw, 7);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("/work") && !stdout.contains("unreachable"),
        "container reached the host: {stdout}"
    );
    if is_berth() {
        assert!(!out.status.success());
    }
    e.assert_clean();
}

/// Mount destinations that are symlinks pointing out of the rootfs land inside it.
#[test]
fn symlinked_mount_targets_stay_inside_rootfs() {
    let mut e = Env::new("symlink");
    let host = e.dir.join("host-target");
    std::fs::create_dir_all(&host).unwrap();
    let rootfs = e.bundle.join("rootfs");
    std::os::unix::fs::symlink(&host, rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../../../../..".to_string() + host.to_str().unwrap(),
        rootfs.join("rel"),
    )
    .unwrap();
    let src = e.dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("file"), "x").unwrap();
    e.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/abs/sub", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/rel", "type": "bind", "source": src.to_str().unwrap(), "options": ["bind"]}));
    });
    e.sh("touch /abs/sub/inside; cat /rel/file");
    let out = e.output();
    assert_eq!(out, "x");
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        0,
        "a mount escaped to the host"
    );
    // The symlinks were resolved inside the rootfs: the mount points were made there.
    assert!(rootfs
        .join(host.strip_prefix("/").unwrap())
        .join("sub")
        .is_dir());
}

/// A masked path or /dev/null replaced by a symlink must not redirect the mask onto the host
/// (the CVE-2025-31133 class): /dev/null is checked to be the null device.
#[test]
fn masking_with_a_fake_dev_null_is_refused() {
    let mut e = Env::new("fakenull");
    // /dev is not a tmpfs here, so the image's own /dev/null is used: make it a plain file.
    e.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev")
    });
    std::fs::create_dir_all(e.bundle.join("rootfs/dev")).unwrap();
    let id = e.id("fn");
    // Default devices are (re)created by the runtime, so the mask works with a real node.
    e.sh("wc -c < /proc/keys");
    let (code, out, _) = e.run(&id);
    assert_eq!(code, 0);
    assert_eq!(out, "0\n");
}

fn core_pattern() -> String {
    std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap()
}

/// The image's own /dev is used (no tmpfs over it), so the image controls /dev entries.
fn image_dev(e: &mut Env) {
    e.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev")
    });
    std::fs::create_dir_all(e.bundle.join("rootfs/dev")).unwrap();
}

/// CVE-2025-52881 class: a runtime write to /proc (a sysctl) redirected by a bind mount over
/// the /proc file must not land in what was bound there.
#[test]
fn sysctl_write_through_a_bind_over_proc_is_refused() {
    let mut e = Env::new("cve52881");
    let host_file = e.dir.join("host-file");
    std::fs::write(&host_file, "original\n").unwrap();
    e.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/proc/sys/kernel/shmmni", "type": "bind",
            "source": host_file, "options": ["bind"]}));
        c["linux"]["sysctl"] = json!({"kernel.shmmni": "1234"});
    });
    let id = e.id("sc");
    let err = e.fails(&["run", &id]);
    if is_berth() {
        assert!(
            contains(&err, "sysctl kernel.shmmni")
                && contains(&err, "not on procfs or reached across a mount"),
            "unexpected error: {err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "original\n");
    e.assert_clean();
}

/// CVE-2025-52565 class: /dev/console swapped for a symlink to a /proc file must not become
/// a bind of the pty over it (or of it anywhere).
#[test]
fn console_symlinked_to_proc_is_refused() {
    let before = core_pattern();
    let mut e = Env::new("cve52565");
    image_dev(&mut e);
    std::os::unix::fs::symlink(
        "/proc/sys/kernel/core_pattern",
        e.bundle.join("rootfs/dev/console"),
    )
    .unwrap();
    e.edit(|c| c["process"]["terminal"] = true.into());
    e.sh("echo '|/bin/pwned' > /dev/console");
    let sock = e.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // Keeps the connection (and any pty master) until the test ends.
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut b = [0u8; 64];
            let _ = std::io::Read::read(&mut s, &mut b);
        }
    });
    let id = e.id("con");
    let out = e.rt(&["run", "--console-socket", sock.to_str().unwrap(), &id]);
    if is_berth() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            contains(&err, "/dev/console in the rootfs is a symlink"),
            "{err}"
        );
    }
    assert_eq!(core_pattern(), before, "host core_pattern changed");
    let _ = e.rt(&["delete", "-f", &id]);
    e.assert_clean();
}

/// CVE-2025-31133 class: a masked path that is a symlink in the image to a /proc file masks
/// that file inside the container; nothing reaches the host.
#[test]
fn masked_path_symlinked_to_proc_stays_in_the_container() {
    let before = core_pattern();
    let mut e = Env::new("cve31133");
    std::os::unix::fs::symlink(
        "/proc/sys/kernel/core_pattern",
        e.bundle.join("rootfs/etc/evil"),
    )
    .unwrap();
    e.edit(|c| {
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push("/etc/evil".into())
    });
    e.sh("echo '|/bin/pwned' > /etc/evil; echo '|/bin/pwned' > /proc/sys/kernel/core_pattern; wc -c < /proc/sys/kernel/core_pattern");
    let id = e.id("mask");
    let (_, out, _) = e.run(&id);
    assert_eq!(core_pattern(), before, "host core_pattern changed");
    // What the container sees there is the mask (/dev/null), not the kernel's value.
    assert_eq!(out.trim(), "0", "{out}");
}

/// CVE-2025-31133: /dev/null replaced by a symlink to a /proc file must not make the masks
/// bind that file (writable) over the masked paths.
#[test]
fn dev_null_symlinked_to_proc_does_not_expose_it() {
    let before = core_pattern();
    let mut e = Env::new("cve31133null");
    image_dev(&mut e);
    std::os::unix::fs::symlink(
        "/proc/sys/kernel/core_pattern",
        e.bundle.join("rootfs/dev/null"),
    )
    .unwrap();
    // /proc/sysrq-trigger is masked by default: if the mask were core_pattern, this would
    // write it.
    e.edit(|c| {
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push("/proc/sysrq-trigger".into())
    });
    e.sh("echo '|/bin/pwned' > /proc/sysrq-trigger; echo '|/bin/pwned' > /proc/keys; wc -c < /proc/keys");
    let id = e.id("null");
    let (code, out, err) = e.run(&id);
    assert_eq!(core_pattern(), before, "host core_pattern changed");
    if code == 0 {
        assert_eq!(
            out.trim(),
            "0",
            "/proc/keys not masked by the null device: {out}{err}"
        );
    } else if is_berth() {
        assert!(contains(&err, "/dev/null"), "{err}");
    }
}

/// CVE-2025-31133/52565 with a race: a running container keeps swapping /dev/null for a
/// symlink to core_pattern in a rootfs that new containers share while they are set up.
/// Each new container either masks with the real null device or fails; the host is untouched.
#[test]
fn dev_null_swapped_by_a_concurrent_container_does_not_expose_proc() {
    let before = core_pattern();
    let mut e = Env::new("cve31133race");
    image_dev(&mut e);
    e.sh("while :; do ln -sfn /proc/sys/kernel/core_pattern /dev/n2; mv -f /dev/n2 /dev/null; rm -f /dev/null; done");
    let racer = e.id("racer");
    e.ok(&["run", "-d", &racer]);
    e.sh("echo '|/bin/pwned' > /proc/sysrq-trigger; echo '|/bin/pwned' > /proc/keys; wc -c < /proc/keys");
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..15 {
        let id = e.id("victim");
        let (code, out, err) = e.run(&id);
        assert_eq!(core_pattern(), before, "host core_pattern changed");
        if code == 0 {
            assert_eq!(
                out.trim(),
                "0",
                "/proc/keys not masked by the null device: {out}{err}"
            );
            ok += 1;
        } else {
            if refused == 0 {
                eprintln!("refused: {err}");
            }
            refused += 1;
        }
        let _ = e.rt(&["delete", "-f", &id]);
    }
    e.ok(&["delete", "-f", &racer]);
    eprintln!("{ok} masked correctly, {refused} refused");
    assert_eq!(core_pattern(), before);
}
