//! Preparing the container's root filesystem.

/// Mount propagation flags for `linux.rootfsPropagation`.
pub fn propagation_flag(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "shared" => libc::MS_SHARED,
        "slave" => libc::MS_SLAVE,
        "private" => libc::MS_PRIVATE,
        "unbindable" => libc::MS_UNBINDABLE,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}
