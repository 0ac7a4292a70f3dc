//! berth under dockerd 20.10: as a daemon.json runtime (`docker run --runtime=berth`, through
//! containerd's runc shim) and our shim under dockerd (dockerd 20.10 ignores `runtimeType`, so
//! the shim is put on containerd's PATH as containerd-shim-runc-v2).

mod engines_support;

use std::time::Duration;

use engines_support::{
    have, lock, test_runtime, unique, wait_until, Containerd, ContainerdOpts, Dockerd,
};

fn tools() -> bool {
    have("containerd") && have("dockerd") && have("ctr") && have("umoci") && have("skopeo")
}

/// Fetches http://127.0.0.1:port/ with busybox wget on the host side.
fn http_get(port: u16) -> String {
    let out = std::process::Command::new("/bin/busybox")
        .args([
            "timeout",
            "5",
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://127.0.0.1:{port}/"),
        ])
        .output()
        .expect("busybox wget");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn docker_run_with_berth_as_runtime_runs_execs_logs_publishes_and_stops() {
    if !tools() {
        return;
    }
    let _l = lock();
    let c = Containerd::start(ContainerdOpts::default());
    let rt = test_runtime();
    let d = Dockerd::start(&c, &[("berth", rt.as_path())]);
    d.load_busybox();

    let out = d.docker_raw(&[
        "run",
        "--rm",
        "--runtime=berth",
        "busybox",
        "sh",
        "-c",
        "echo hello-docker; exit 3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello-docker");

    // -v: a bind mount, written from inside
    let vol = d.dir.join("vol");
    std::fs::create_dir_all(&vol).expect("volume dir");
    d.docker(&[
        "run",
        "--rm",
        "--runtime=berth",
        "-v",
        &format!("{}:/data", vol.display()),
        "busybox",
        "sh",
        "-c",
        "echo from-container > /data/f",
    ]);
    assert_eq!(
        std::fs::read_to_string(vol.join("f"))
            .unwrap_or_default()
            .trim(),
        "from-container"
    );

    // -d, -p (bridge networking through docker-proxy), exec, logs, stop
    let name = unique("web");
    let port = free_port();
    d.docker(&[
        "run",
        "-d",
        "--runtime=berth",
        "--name",
        &name,
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo web-started; trap 'exit 0' TERM; httpd -f -p 80 -h /var/www & wait",
    ]);
    wait_until(
        "the published port to answer",
        Duration::from_secs(10),
        || http_get(port).contains("hello from busybox httpd"),
    );
    let ip = d.docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name]);
    assert!(ip.trim().starts_with("10.90.0."), "container ip {ip}");
    let ex = d.docker_raw(&["exec", &name, "sh", "-c", "ls /var/www; exit 7"]);
    assert_eq!(ex.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&ex.stdout).trim(), "index.html");
    assert!(d.docker(&["logs", &name]).contains("web-started"));
    d.docker(&["stop", "-t", "5", &name]);
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.ExitCode}}", &name])
            .trim(),
        "0"
    );
    d.docker(&["rm", &name]);
}

#[test]
fn docker_runs_containers_through_the_berth_shim() {
    if !tools() {
        return;
    }
    let _l = lock();
    let c = Containerd::start(ContainerdOpts {
        shadow_runc_shim: true,
        ..Default::default()
    });
    let d = Dockerd::start(&c, &[]);
    d.load_busybox();
    let out = d.docker_raw(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo via-berth-shim; exit 2",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "via-berth-shim"
    );
    let name = unique("sh");
    d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo up; trap 'exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    // the container's shim is ours (the shadowing containerd-shim-runc-v2 links to it)
    let shims = c.shim_pids();
    assert_eq!(shims.len(), 1, "one shim for the running container");
    let exe = std::fs::read_link(format!("/proc/{}/exe", shims[0])).expect("shim exe");
    assert!(
        exe.to_string_lossy().contains("containerd-shim-berth-v2"),
        "shim is {}",
        exe.display()
    );
    let ex = d.docker_raw(&["exec", &name, "sh", "-c", "exit 9"]);
    assert_eq!(ex.status.code(), Some(9));
    assert!(d.docker(&["logs", &name]).contains("up"));
    d.docker(&["stop", "-t", "5", &name]);
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.ExitCode}}", &name])
            .trim(),
        "0"
    );
    d.docker(&["rm", &name]);
}
