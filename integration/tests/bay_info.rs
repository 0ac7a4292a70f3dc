//! `bay info` and `bay version`: docker's fields, read from this host and this store.
//! Needs `cargo build -p bay -p berth` first.

mod bay_common;

use bay_common::CtrBay;

#[test]
fn info_counts_containers_and_images_and_names_the_runtime() {
    let b = CtrBay::new();
    b.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "up",
        "busybox",
        "sh",
        "-c",
        "sleep 30",
    ]);
    b.ok(&["create", "--network", "none", "busybox", "true"]);
    let out = b.ok(&["info"]);
    for want in [
        "\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n",
        "\n Storage Driver: overlay2\n",
        "\n Logging Driver: json-file\n",
        "\n Default Runtime: berth\n",
        "\n OSType: linux\n",
    ] {
        assert!(out.contains(want), "{want:?} not in {out}");
    }
    let root = b.root();
    assert!(
        out.contains(&format!(" Bay Root Dir: {}\n", root.display())),
        "{out}"
    );
    assert_eq!(
        b.ok(&[
            "info",
            "--format",
            "{{.Containers}} {{.ContainersRunning}} {{.Driver}}"
        ]),
        "2 1 overlay2\n"
    );
    assert_eq!(b.ok(&["system", "info", "-f", "{{.Images}}"]), "1\n");
    b.ok(&["rm", "-f", "up"]);
    b.ok(&["container", "prune", "-f"]);
    b.assert_clean();
}

#[test]
fn version_prints_client_and_engine_and_formats() {
    let b = CtrBay::new();
    let out = b.ok(&["version"]);
    assert!(out.starts_with("Client: bay\n Version:  "), "{out}");
    assert!(out.contains("Server: bay (daemonless)\n"), "{out}");
    let v = b.ok(&["version", "--format", "{{.Client.Version}}"]);
    assert_eq!(v.trim(), env!("CARGO_PKG_VERSION"));
    let bad = b.run(&["info", "--format", "{{.Nope"]);
    assert_ne!(bad.code, 0);
    assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("template parsing error"),
        "{}",
        bad.stderr
    );
}
