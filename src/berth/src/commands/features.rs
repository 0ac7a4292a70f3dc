use berth_runtime::spec::NamespaceType;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {}

/// The runtime-spec features document, listing only what berth really implements.
pub fn run(_: Args) -> anyhow::Result<i32> {
    let sec = berth_runtime::seccomp::features();
    let caps: Vec<&str> = berth_runtime::caps::NAMES.to_vec();
    let mount_options = [
        "acl",
        "async",
        "atime",
        "bind",
        "defaults",
        "dev",
        "diratime",
        "dirsync",
        "exec",
        "iversion",
        "lazytime",
        "loud",
        "mand",
        "noacl",
        "noatime",
        "nodev",
        "nodiratime",
        "noexec",
        "noiversion",
        "nolazytime",
        "nomand",
        "norelatime",
        "nostrictatime",
        "nosuid",
        "nosymfollow",
        "private",
        "ratime",
        "rbind",
        "rdev",
        "rdiratime",
        "relatime",
        "remount",
        "rexec",
        "rnoatime",
        "rnodev",
        "rnodiratime",
        "rnoexec",
        "rnorelatime",
        "rnostrictatime",
        "rnosuid",
        "rnosymfollow",
        "ro",
        "rprivate",
        "rrelatime",
        "rro",
        "rrw",
        "rshared",
        "rslave",
        "rstrictatime",
        "rsuid",
        "rsymfollow",
        "runbindable",
        "rw",
        "shared",
        "silent",
        "slave",
        "strictatime",
        "suid",
        "symfollow",
        "sync",
        "tmpcopyup",
        "unbindable",
    ];
    let f = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": berth_runtime::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options.to_vec(),
        "linux": {
            "namespaces": NamespaceType::ALL.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": {
                "enabled": sec.enabled,
                "actions": sec.actions,
                "operators": sec.operators,
                "archs": sec.archs,
                "knownFlags": sec.flags,
                "supportedFlags": sec.flags,
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}}
        },
        "annotations": {
            "io.github.berth.version": env!("CARGO_PKG_VERSION"),
            "io.github.berth.commit": env!("BERTH_COMMIT"),
        }
    });
    println!("{}", serde_json::to_string_pretty(&f)?);
    Ok(0)
}
