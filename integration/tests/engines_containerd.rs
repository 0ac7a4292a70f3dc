//! berth under the stock containerd shim (no shim of ours): containerd-shim-runc-v2 with the
//! test runtime as its runc binary (`ctr run --runc-binary`, the BinaryName option).

mod engines_support;

use engines_support::{have, lock, test_runtime, unique, write_script, Containerd, ContainerdOpts};

#[test]
fn runc_shim_runs_containers_with_the_test_runtime_as_binary() {
    if !have("containerd") || !have("ctr") || !have("umoci") || !have("skopeo") {
        return;
    }
    let _l = lock();
    let c = Containerd::start(ContainerdOpts::default());
    c.import_busybox("default");
    // a wrapper records that the runc shim ran the binary it was given
    let rt = test_runtime();
    let wrapper = c.dir.join("runtime-wrapper");
    let calls = c.dir.join("runtime-calls");
    write_script(
        &wrapper,
        &format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec {} \"$@\"\n",
            calls.display(),
            rt.display()
        ),
    );
    let id = unique("runcbin");
    let out = c
        .ctr_cmd()
        .args([
            "run",
            "--rm",
            "--runtime",
            "io.containerd.runc.v2",
            "--runc-binary",
        ])
        .arg(&wrapper)
        .args([
            "docker.io/library/busybox:latest",
            &id,
            "sh",
            "-c",
            "echo via-runc-shim; exit 4",
        ])
        .output()
        .expect("ctr run");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "via-runc-shim");
    let log = std::fs::read_to_string(&calls).unwrap_or_default();
    for verb in ["create", "start", "delete"] {
        assert!(
            log.lines().any(|l| l.contains(verb) && l.contains(&id)),
            "no {verb} call in:\n{log}"
        );
    }
}
