//! Named network namespaces as `ip netns` makes them: a new namespace bind-mounted on a file,
//! so it outlives its processes until bay tears it down.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Creates a new network namespace and binds it to `path` (created).
pub fn create(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path)?;
    let target = cstr(path)?;
    // unshare in a thread of its own: only that thread changes namespace, then it ends.
    let res = std::thread::spawn(move || -> io::Result<()> {
        // SAFETY: unshare with a constant flag affects only this thread's network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let src = CString::new("/proc/thread-self/ns/net").unwrap_or_default();
        // SAFETY: valid C strings; a plain bind mount.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")));
    if res.is_err() {
        let _ = std::fs::remove_file(path);
    }
    res
}

/// Unmounts and removes a namespace file; a missing file is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let p = cstr(path)?;
    // SAFETY: valid C string; MNT_DETACH so a namespace still in use does not block us.
    unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Brings `lo` up inside the namespace at `path`.
pub fn loopback_up(path: &Path) -> io::Result<()> {
    let ns = std::fs::File::open(path)?;
    std::thread::spawn(move || -> io::Result<()> {
        use std::os::unix::io::AsRawFd;
        // SAFETY: setns on a valid namespace fd; only this thread changes namespace.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain socket creation.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: ifreq is plain old data; zeroed is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        // SAFETY: the ioctls read and write the ifreq we own; fd is our socket.
        let r = unsafe {
            if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) < 0 {
                -1
            } else {
                ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
                libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr)
            }
        };
        let err = io::Error::last_os_error();
        // SAFETY: closing the socket we opened.
        unsafe { libc::close(fd) };
        if r < 0 {
            Err(err)
        } else {
            Ok(())
        }
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
}

pub fn random32() -> io::Result<[u8; 32]> {
    let mut b = [0u8; 32];
    let mut got = 0;
    while got < b.len() {
        // SAFETY: the buffer range is valid for writes of the given length.
        let n = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), b.len() - got, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += n as usize;
    }
    Ok(b)
}
