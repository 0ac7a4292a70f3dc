//! docker's default seccomp policy, written as what it denies. docker's profile allows a
//! long list of syscalls and gates the rest on capabilities. This is the same policy with
//! ALLOW as the default: the kernel-administration syscalls are refused (EPERM) unless the
//! container holds the capability docker requires for them, and namespace-creating `clone`
//! flags need CAP_SYS_ADMIN. `clone3` gets ENOSYS so glibc falls back to `clone`, where the
//! flags can be checked. `--privileged` and `--security-opt seccomp=unconfined` run
//! without a filter, as in docker.

use serde_json::{json, Value};

/// Always refused: obsolete, or kernel keyring access (docker allows these to nobody).
const ALWAYS: &[&str] = &[
    "add_key",
    "get_kernel_syms",
    "keyctl",
    "nfsservctl",
    "query_module",
    "request_key",
    "sysfs",
    "_sysctl",
    "uselib",
    "ustat",
    "vm86",
    "vm86old",
];

/// Refused unless the container has one of the capabilities.
const GATED: &[(&[&str], &[&str])] = &[
    (
        &["CAP_SYS_ADMIN"],
        &[
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "swapoff",
            "swapon",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    (&["CAP_SYS_ADMIN", "CAP_BPF"], &["bpf"]),
    (&["CAP_SYS_ADMIN", "CAP_PERFMON"], &["perf_event_open"]),
    (
        &["CAP_SYS_BOOT"],
        &["kexec_file_load", "kexec_load", "reboot"],
    ),
    (
        &["CAP_SYS_MODULE"],
        &[
            "create_module",
            "delete_module",
            "finit_module",
            "init_module",
        ],
    ),
    (&["CAP_SYS_PACCT"], &["acct"]),
    (
        &["CAP_SYS_PTRACE"],
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "userfaultfd",
        ],
    ),
    (&["CAP_SYS_RAWIO"], &["ioperm", "iopl"]),
    (
        &["CAP_SYS_TIME"],
        &[
            "clock_adjtime",
            "clock_adjtime64",
            "clock_settime",
            "clock_settime64",
            "settimeofday",
            "stime",
        ],
    ),
    (&["CAP_SYS_TTY_CONFIG"], &["vhangup"]),
    (
        &["CAP_SYS_NICE"],
        &[
            "get_mempolicy",
            "mbind",
            "move_pages",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    (&["CAP_SYSLOG"], &["syslog"]),
    (&["CAP_DAC_READ_SEARCH"], &["open_by_handle_at"]),
];

/// The namespace flags of clone(2).
const CLONE_NS_FLAGS: &[u64] = &[
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

fn architectures() -> Vec<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "aarch64" => vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "riscv64" => vec!["SCMP_ARCH_RISCV64"],
        _ => vec![],
    }
}

/// The `linux.seccomp` section for a container holding `caps`.
pub fn default_profile(caps: &[String]) -> Value {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let mut denied: Vec<&str> = ALWAYS.to_vec();
    for (need, calls) in GATED {
        if !need.iter().any(|c| has(c)) {
            denied.extend_from_slice(calls);
        }
    }
    denied.sort_unstable();
    let mut syscalls = vec![json!({
        "names": denied,
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 1,
    })];
    if !has("CAP_SYS_ADMIN") {
        syscalls.push(json!({
            "names": ["clone3"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 38,
        }));
        // Conditions on one argument are alternatives: any namespace flag refuses the call.
        let args: Vec<Value> = CLONE_NS_FLAGS
            .iter()
            .map(|f| json!({"index": 0, "value": f, "valueTwo": f, "op": "SCMP_CMP_MASKED_EQ"}))
            .collect();
        syscalls.push(json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "args": args,
        }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": architectures(),
        "syscalls": syscalls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_lift_their_syscalls() {
        let plain = default_profile(&[]);
        let names = |v: &Value| v["syscalls"][0]["names"].as_array().unwrap().len();
        let admin = default_profile(&["CAP_SYS_ADMIN".to_string()]);
        assert!(names(&admin) < names(&plain));
        assert_eq!(admin["syscalls"].as_array().unwrap().len(), 1);
        assert!(plain["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .contains(&json!("mount")));
    }
}
