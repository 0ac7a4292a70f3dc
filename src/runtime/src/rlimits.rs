//! process.rlimits: names to resources, and setting them with prlimit.

use crate::spec::Rlimit;

#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    #[error("unknown rlimit type {0:?}")]
    Unknown(String),
    #[error("setrlimit {typ}: {errno}")]
    Set { typ: String, errno: nix::Error },
}

const TABLE: [(&str, libc::__rlimit_resource_t); 16] = [
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
];

pub fn resource(name: &str) -> Result<libc::__rlimit_resource_t, RlimitError> {
    TABLE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
        .ok_or_else(|| RlimitError::Unknown(name.to_string()))
}

pub fn apply(limits: &[Rlimit]) -> Result<(), RlimitError> {
    for l in limits {
        let res = resource(&l.typ)?;
        let v = libc::rlimit {
            rlim_cur: l.soft,
            rlim_max: l.hard,
        };
        // SAFETY: a valid resource and a pointer to an initialised rlimit.
        if unsafe { libc::setrlimit(res, &v) } != 0 {
            return Err(RlimitError::Set {
                typ: l.typ.clone(),
                errno: nix::Error::last(),
            });
        }
    }
    Ok(())
}
