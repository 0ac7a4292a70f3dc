//! Kubernetes' CRI through containerd's CRI plugin (no kubelet or crictl here: a small Python
//! grpc client, hack/engines/cri_lifecycle.py), with berth as a runtime handler: through our
//! shim (runtime_type io.containerd.berth.v2) and through containerd's runc shim with
//! BinaryName = the test runtime.

mod engines_support;

use std::process::Command;

use engines_support::{have, lock, run, workspace, Containerd, ContainerdOpts};

fn cri_lifecycle(handler: &str) {
    if !have("containerd") || !have("ctr") || !have("umoci") || !have("skopeo") || !have("python3")
    {
        return;
    }
    if !std::path::Path::new("/usr/lib/cni/bridge").exists() {
        eprintln!("SKIP: CNI plugins missing (apt-get install containernetworking-plugins)");
        return;
    }
    let _l = lock();
    let client = workspace().join("hack/engines/setup-cri-client.sh");
    let cri_dir = String::from_utf8_lossy(&run(&mut Command::new(&client)).stdout)
        .trim()
        .to_string();
    assert!(!cri_dir.is_empty(), "setup-cri-client.sh failed");
    let c = Containerd::start(ContainerdOpts {
        cri: true,
        ..Default::default()
    });
    c.import_busybox("k8s.io");
    c.import_pause();
    let out = run(Command::new(format!("{cri_dir}/venv/bin/python"))
        .arg(workspace().join("hack/engines/cri_lifecycle.py"))
        .arg("--socket")
        .arg(&c.sock)
        .args(["--handler", handler, "--gen", &format!("{cri_dir}/gen")])
        .arg("--logs")
        .arg(c.dir.join("pod-logs")));
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(
        out.status.success() && text.contains("CRI lifecycle OK"),
        "CRI lifecycle with handler {handler} failed:\n{text}\n{}\ncontainerd log tail:\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.log()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(c);
}

#[test]
fn cri_pod_lifecycle_through_the_berth_shim() {
    cri_lifecycle("berth");
}

#[test]
fn cri_pod_lifecycle_through_the_runc_shim_with_berth_as_binary() {
    cri_lifecycle("runc-berth");
}
