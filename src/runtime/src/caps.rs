//! Linux capabilities by name, and applying the five sets of process.capabilities.

use crate::spec::Capabilities;

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("unknown capability {0:?}")]
    Unknown(String),
    #[error("{op}: {errno}")]
    Sys { op: &'static str, errno: nix::Error },
}

/// Capability names in kernel number order (CAP_CHOWN = 0).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Parses `CAP_NET_ADMIN` (or `NET_ADMIN`, case-insensitive, as `exec --cap` allows).
pub fn parse(name: &str) -> Result<u32, CapsError> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES
        .iter()
        .position(|n| *n == full)
        .map(|i| i as u32)
        .ok_or_else(|| CapsError::Unknown(name.to_string()))
}

/// Highest capability the running kernel knows (read once per process).
pub fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// The names in `c` that can't be applied: unknown to berth (a misspelling, or a capability
/// newer than our table), or known but beyond the running kernel's `cap_last_cap`. Sorted,
/// each once.
pub fn unavailable(c: &Capabilities) -> Vec<String> {
    unavailable_with(c, last_cap())
}

fn unavailable_with(c: &Capabilities, last: u32) -> Vec<String> {
    let mut out: Vec<String> = [
        &c.bounding,
        &c.effective,
        &c.inheritable,
        &c.permitted,
        &c.ambient,
    ]
    .into_iter()
    .flatten()
    .flatten()
    .filter(|n| parse(n).map_or(true, |bit| bit > last))
    .cloned()
    .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Warns about the capabilities that will be skipped, in runc's words. The runtime-spec (1.1+)
/// says such a capability MUST be logged as a warning and SHOULD NOT fail the container.
pub fn warn_unavailable(c: Option<&Capabilities>) {
    let Some(c) = c else {
        return;
    };
    let skipped = unavailable(c);
    if !skipped.is_empty() {
        crate::warn::warn(&format!(
            "ignoring unknown or unavailable capabilities: [{}]",
            skipped.join(" ")
        ));
    }
}

/// The set's bits. Unknown names and capabilities the kernel doesn't have are skipped, as
/// runc does; `warn_unavailable` has said so before the container was started.
fn mask(names: &Option<Vec<String>>) -> u64 {
    let mut m = 0u64;
    for n in names.iter().flatten() {
        match parse(n) {
            Ok(bit) if bit <= last_cap() => m |= 1 << bit,
            _ => {}
        }
    }
    m
}

/// The five sets as bit masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

impl CapSets {
    /// Never fails: what can't be applied is skipped (see `mask`).
    pub fn from_spec(c: Option<&Capabilities>) -> Result<CapSets, CapsError> {
        let Some(c) = c else {
            return Ok(CapSets::default());
        };
        Ok(CapSets {
            bounding: mask(&c.bounding),
            effective: mask(&c.effective),
            inheritable: mask(&c.inheritable),
            permitted: mask(&c.permitted),
            ambient: mask(&c.ambient),
        })
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

fn sys(op: &'static str, r: libc::c_long) -> Result<(), CapsError> {
    if r < 0 {
        Err(CapsError::Sys {
            op,
            errno: nix::Error::last(),
        })
    } else {
        Ok(())
    }
}

/// Drops every capability not in `bounding` from the bounding set. Needs CAP_SETPCAP, so it
/// runs before the switch to the container user.
pub fn drop_bounding(bounding: u64) -> Result<(), CapsError> {
    for cap in 0..=last_cap() {
        if bounding & (1 << cap) == 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if r < 0 && nix::Error::last() != nix::Error::EINVAL {
                return sys("drop bounding capability", r as libc::c_long);
            }
        }
    }
    Ok(())
}

/// Sets effective, permitted and inheritable with capset(2), then the ambient set.
pub fn apply(sets: &CapSets) -> Result<(), CapsError> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: sets.effective as u32,
            permitted: sets.permitted as u32,
            inheritable: sets.inheritable as u32,
        },
        CapData {
            effective: (sets.effective >> 32) as u32,
            permitted: (sets.permitted >> 32) as u32,
            inheritable: (sets.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and two data words as capset(2) with _LINUX_CAPABILITY_VERSION_3 expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    sys("capset", r)?;
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    sys("clear ambient capabilities", r as libc::c_long)?;
    for cap in 0..=last_cap() {
        if sets.ambient & (1 << cap) != 0 {
            // SAFETY: as above. Fails with EPERM when the cap isn't permitted and inheritable;
            // runc ignores that case, and so do we.
            unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                )
            };
        }
    }
    Ok(())
}

/// Keep permitted capabilities across the setuid to the container user.
pub fn keep_caps(on: bool) -> Result<(), CapsError> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) };
    sys("set keepcaps", r as libc::c_long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_and_without_prefix() {
        assert_eq!(parse("CAP_CHOWN").unwrap(), 0);
        assert_eq!(parse("net_admin").unwrap(), 12);
        assert_eq!(parse("CAP_CHECKPOINT_RESTORE").unwrap(), 40);
        assert!(parse("CAP_NOPE").is_err());
    }

    fn caps(names: &[&str]) -> Capabilities {
        let v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        Capabilities {
            bounding: Some(v.clone()),
            effective: Some(v.clone()),
            permitted: Some(v),
            ..Default::default()
        }
    }

    #[test]
    fn unknown_and_kernel_unavailable_names_are_listed_once() {
        let c = caps(&[
            "CAP_CHOWN",
            "CAP_ZZZ_NEW",
            "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE",
        ]);
        assert_eq!(unavailable_with(&c, 40), ["CAP_ZZZ_NEW"]);
        // An older kernel: CAP_BPF (39) and CAP_CHECKPOINT_RESTORE (40) are not there yet.
        assert_eq!(
            unavailable_with(&c, 38),
            ["CAP_BPF", "CAP_CHECKPOINT_RESTORE", "CAP_ZZZ_NEW"]
        );
    }

    #[test]
    fn unknown_names_are_skipped_and_the_rest_applied() {
        let sets = CapSets::from_spec(Some(&caps(&["CAP_KILL", "CAP_CONFORMANCE_BOGUS"]))).unwrap();
        assert_eq!(sets.bounding, 1 << 5);
        assert_eq!(sets.effective, 1 << 5);
        assert_eq!(sets.inheritable, 0);
    }
}
