//! Mount options of config.json `mounts[].options`, as runc understands them.

/// The parsed form of one mount's options.
#[derive(Debug, Default, Clone)]
pub struct MountOptions {
    /// MS_* flags for mount(2).
    pub flags: libc::c_ulong,
    /// Flags the options explicitly cleared (e.g. `rw`, `suid`), for remounts.
    pub cleared: libc::c_ulong,
    /// MS_SHARED/MS_PRIVATE/... applied after the mount, in order.
    pub propagation: Vec<libc::c_ulong>,
    /// MOUNT_ATTR_* to set and clear recursively (`rro`, `rnosuid`, ...), via mount_setattr.
    pub rec_set: u64,
    pub rec_clr: u64,
    /// Options passed to the filesystem as its data string.
    pub data: Vec<String>,
    pub tmpcopyup: bool,
    pub idmap: bool,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_ATIME: u64 = 0x70;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
pub const MS_NOSYMFOLLOW: libc::c_ulong = 256;

impl MountOptions {
    pub fn parse(opts: &[String]) -> MountOptions {
        let mut o = MountOptions::default();
        for opt in opts {
            let (set, clear): (libc::c_ulong, libc::c_ulong) = match opt.as_str() {
                "defaults" => (0, 0),
                "ro" => (libc::MS_RDONLY, 0),
                "rw" => (0, libc::MS_RDONLY),
                "suid" => (0, libc::MS_NOSUID),
                "nosuid" => (libc::MS_NOSUID, 0),
                "dev" => (0, libc::MS_NODEV),
                "nodev" => (libc::MS_NODEV, 0),
                "exec" => (0, libc::MS_NOEXEC),
                "noexec" => (libc::MS_NOEXEC, 0),
                "sync" => (libc::MS_SYNCHRONOUS, 0),
                "async" => (0, libc::MS_SYNCHRONOUS),
                "dirsync" => (libc::MS_DIRSYNC, 0),
                "remount" => (libc::MS_REMOUNT, 0),
                "mand" => (libc::MS_MANDLOCK, 0),
                "nomand" => (0, libc::MS_MANDLOCK),
                "atime" => (0, libc::MS_NOATIME),
                "noatime" => (libc::MS_NOATIME, 0),
                "diratime" => (0, libc::MS_NODIRATIME),
                "nodiratime" => (libc::MS_NODIRATIME, 0),
                "bind" => (libc::MS_BIND, 0),
                "rbind" => (libc::MS_BIND | libc::MS_REC, 0),
                "relatime" => (libc::MS_RELATIME, 0),
                "norelatime" => (0, libc::MS_RELATIME),
                "strictatime" => (libc::MS_STRICTATIME, 0),
                "nostrictatime" => (0, libc::MS_STRICTATIME),
                "iversion" => (libc::MS_I_VERSION, 0),
                "noiversion" => (0, libc::MS_I_VERSION),
                "lazytime" => (libc::MS_LAZYTIME, 0),
                "nolazytime" => (0, libc::MS_LAZYTIME),
                "silent" => (libc::MS_SILENT, 0),
                "loud" => (0, libc::MS_SILENT),
                "acl" => (libc::MS_POSIXACL, 0),
                "noacl" => (0, libc::MS_POSIXACL),
                "nosymfollow" => (MS_NOSYMFOLLOW, 0),
                "symfollow" => (0, MS_NOSYMFOLLOW),
                "tmpcopyup" => {
                    o.tmpcopyup = true;
                    continue;
                }
                "idmap" | "ridmap" => {
                    o.idmap = true;
                    continue;
                }
                other => {
                    if let Some(p) = super::propagation_flag(other) {
                        o.propagation.push(p);
                    } else if let Some((set, clr)) = recursive_attr(other) {
                        o.rec_set |= set;
                        o.rec_clr |= clr;
                    } else {
                        o.data.push(other.to_string());
                    }
                    continue;
                }
            };
            o.flags = (o.flags & !clear) | set;
            o.cleared = (o.cleared & !set) | clear;
        }
        o
    }

    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }

    pub fn data(&self) -> String {
        self.data.join(",")
    }
}

/// runc's recursive options (`rro`, `rnosuid`, ...): (attr_set, attr_clr).
fn recursive_attr(opt: &str) -> Option<(u64, u64)> {
    Some(match opt {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (0, MOUNT_ATTR_ATIME),
        "rnorelatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME),
        "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME),
        "ratime" => (0, MOUNT_ATTR_ATIME),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME),
        "rnostrictatime" => (0, MOUNT_ATTR_ATIME),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = MountOptions::parse(
            &[
                "nosuid", "ro", "rprivate", "mode=755", "size=64k", "rw", "rbind", "rnoexec",
            ]
            .map(String::from),
        );
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        assert!(o.flags & libc::MS_NOSUID != 0);
        assert!(o.is_bind() && o.flags & libc::MS_REC != 0);
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        assert_eq!(o.data(), "mode=755,size=64k");
        assert_eq!(o.rec_set, MOUNT_ATTR_NOEXEC);
    }
}
