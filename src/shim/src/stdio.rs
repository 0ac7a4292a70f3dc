//! A process's stdio as containerd hands it over: FIFO paths (copied through pipes by small
//! threads, so the container never blocks on a client that went away), `file://` URIs (the
//! container writes the file directly), `binary://` URIs (a logging program reading pipes on
//! fds 3 and 4, signalling readiness by closing fd 5), or a terminal (pty master received over a
//! console socket).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::{Error, IoContext, Result};
use crate::exits;
use crate::runtime::ProcStdio;

/// Stack of a copy thread: it only shuffles a heap buffer around.
const COPY_STACK: usize = 64 * 1024;
const COPY_BUF: usize = 32 * 1024;
const LOGGER_READY_MS: i32 = 10_000;

#[derive(Debug, Clone, Default)]
pub struct StdioPaths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// Where one output stream goes.
enum Sink {
    Null,
    Fifo(PathBuf),
    File(PathBuf),
    Binary { path: PathBuf, args: Vec<String> },
}

fn parse_sink(s: &str) -> Result<Sink> {
    if s.is_empty() {
        return Ok(Sink::Null);
    }
    if let Some(rest) = s.strip_prefix("file://") {
        return Ok(Sink::File(PathBuf::from(rest)));
    }
    if let Some(rest) = s.strip_prefix("binary://") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut args = Vec::new();
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            args.push(k.to_string());
            if !v.is_empty() {
                args.push(v.to_string());
            }
        }
        return Ok(Sink::Binary {
            path: PathBuf::from(path),
            args,
        });
    }
    if let Some(rest) = s.strip_prefix("fifo://") {
        return Ok(Sink::Fifo(PathBuf::from(rest)));
    }
    if s.contains("://") {
        return Err(Error::InvalidArgument(format!("unsupported stdio uri {s}")));
    }
    Ok(Sink::Fifo(PathBuf::from(s)))
}

/// Counts output copiers still running, so an exit is reported after its output.
#[derive(Default)]
pub struct Pending {
    n: Mutex<usize>,
    cv: Condvar,
}

impl Pending {
    fn add(&self) {
        *self.n.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }
    fn done(&self) {
        let mut n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.cv.notify_all();
    }
    /// Waits until every copier finished or `d` passed (a daemonised grandchild may hold the
    /// pipe open forever).
    pub fn wait(&self, d: Duration) {
        let n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.cv.wait_timeout_while(n, d, |n| *n > 0);
    }
}

/// The shim's side of a process's stdio.
pub struct ProcessIo {
    paths: StdioPaths,
    /// Where stdin data goes (pipe write end or pty master); taken by CloseIO.
    stdin: Arc<Mutex<Option<File>>>,
    /// pty master, for ResizePty.
    console: Option<File>,
    pub pending: Arc<Pending>,
    /// Copiers to start once the runtime succeeded: until then, what the runtime itself
    /// printed on the container's stdio (its error) stays out of the container's output.
    deferred: Vec<Box<dyn FnOnce() -> Result<()> + Send>>,
}

/// A console socket the runtime sends the pty master to.
pub struct ConsoleSocket {
    dir: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new() -> Result<Self> {
        let base = std::env::temp_dir();
        let mut tmpl = base
            .join("berth-pty-XXXXXX")
            .into_os_string()
            .into_encoded_bytes();
        tmpl.push(0);
        // SAFETY: tmpl is a writable NUL-terminated buffer that mkdtemp fills in place.
        let p = unsafe { libc::mkdtemp(tmpl.as_mut_ptr().cast()) };
        if p.is_null() {
            return Err(Error::io(
                "creating console socket dir",
                std::io::Error::last_os_error(),
            ));
        }
        tmpl.pop();
        // SAFETY: the bytes came from an OsString plus the replaced template characters.
        let dir = PathBuf::from(unsafe { std::ffi::OsString::from_encoded_bytes_unchecked(tmpl) });
        let listener = UnixListener::bind(dir.join("pty.sock")).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            Error::io("binding console socket", e)
        })?;
        Ok(ConsoleSocket { dir, listener })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("pty.sock")
    }

    /// Takes the pty master the runtime sent (it connected during create/exec, which returned).
    pub fn receive(&self) -> Result<File> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        self.listener
            .set_nonblocking(true)
            .ctx(|| "console socket")?;
        let (stream, _) = self.listener.accept().map_err(|e| {
            Error::Runtime(format!(
                "runtime sent no terminal on the console socket: {e}"
            ))
        })?;
        stream.set_nonblocking(false).ctx(|| "console socket")?;
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| Error::io("receiving the terminal", e.into()))?;
        for c in msg
            .cmsgs()
            .map_err(|e| Error::io("receiving the terminal", e.into()))?
        {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&fd) = fds.first() {
                    for &extra in &fds[1..] {
                        // SAFETY: fds received via SCM_RIGHTS are new and owned by us.
                        drop(unsafe { OwnedFd::from_raw_fd(extra) });
                    }
                    // SAFETY: as above.
                    return Ok(unsafe { File::from_raw_fd(fd) });
                }
            }
        }
        Err(Error::Runtime(
            "runtime sent no terminal fd on the console socket".into(),
        ))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sets up stdio before the runtime runs: what the runtime gets, the shim's side, and for a
/// terminal the console socket (the copy starts in `attach_console` once the master arrives).
pub fn prepare(
    paths: &StdioPaths,
    ns: &str,
    id: &str,
) -> Result<(ProcStdio, ProcessIo, Option<ConsoleSocket>)> {
    let mut io = ProcessIo {
        paths: paths.clone(),
        stdin: Arc::new(Mutex::new(None)),
        console: None,
        pending: Arc::new(Pending::default()),
        deferred: Vec::new(),
    };
    if paths.terminal {
        if !paths.stderr.is_empty() && paths.stderr != paths.stdout {
            return Err(Error::InvalidArgument(
                "a terminal has no separate stderr".into(),
            ));
        }
        return Ok((ProcStdio::default(), io, Some(ConsoleSocket::new()?)));
    }
    let mut stdio = ProcStdio::default();
    if !paths.stdin.is_empty() {
        let (r, w) = pipe()?;
        stdio.stdin = Some(r);
        *io.stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(File::from(w));
        let (fifo, dst) = (PathBuf::from(&paths.stdin), io.stdin.clone());
        io.deferred
            .push(Box::new(move || copy_fifo_in(fifo, dst, false)));
    }
    let out = parse_sink(&paths.stdout)?;
    let err = parse_sink(&paths.stderr)?;
    if let (Sink::Binary { path, args }, Sink::Binary { .. } | Sink::Null) = (&out, &err) {
        let (o, e) = start_logger(path, args, ns, id)?;
        stdio.stdout = Some(o);
        stdio.stderr = Some(e);
        return Ok((stdio, io, None));
    }
    stdio.stdout = open_sink(&out, &mut io)?;
    stdio.stderr = open_sink(&err, &mut io)?;
    Ok((stdio, io, None))
}

fn open_sink(s: &Sink, io: &mut ProcessIo) -> Result<Option<OwnedFd>> {
    match s {
        Sink::Null => Ok(None),
        Sink::File(p) => {
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ctx(|| format!("opening log file {}", p.display()))?;
            Ok(Some(f.into()))
        }
        Sink::Fifo(p) => {
            let (r, w) = pipe()?;
            let (p, pending) = (p.clone(), io.pending.clone());
            io.deferred
                .push(Box::new(move || copy_out(File::from(r), p, pending)));
            Ok(Some(w))
        }
        Sink::Binary { .. } => Err(Error::InvalidArgument(
            "binary:// logging must be used for stdout".into(),
        )),
    }
}

impl ProcessIo {
    /// Starts the copiers set up by `prepare` (after the runtime created the process).
    pub fn start(&mut self) -> Result<()> {
        for f in self.deferred.drain(..) {
            f()?;
        }
        Ok(())
    }

    /// Starts copying between the FIFOs and the pty master the runtime sent.
    pub fn attach_console(&mut self, master: File) -> Result<()> {
        if !self.paths.stdin.is_empty() {
            let w = master.try_clone().ctx(|| "dup pty master")?;
            *self.stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(w);
            copy_fifo_in(PathBuf::from(&self.paths.stdin), self.stdin.clone(), true)?;
        }
        match parse_sink(&self.paths.stdout)? {
            Sink::Fifo(p) => copy_out(
                master.try_clone().ctx(|| "dup pty master")?,
                p,
                self.pending.clone(),
            )?,
            Sink::File(p) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .ctx(|| format!("opening log file {}", p.display()))?;
                copy_to_file(
                    master.try_clone().ctx(|| "dup pty master")?,
                    f,
                    self.pending.clone(),
                )?;
            }
            Sink::Null => copy_to_file(
                master.try_clone().ctx(|| "dup pty master")?,
                File::create("/dev/null").ctx(|| "/dev/null")?,
                self.pending.clone(),
            )?,
            Sink::Binary { .. } => {
                return Err(Error::InvalidArgument(
                    "binary:// logging of a terminal is not supported".into(),
                ))
            }
        }
        self.console = Some(master);
        Ok(())
    }

    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        let Some(m) = &self.console else {
            return Ok(());
        };
        let ws = libc::winsize {
            ws_row: height as u16,
            ws_col: width as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct from a valid pointer on an open pty fd.
        if unsafe { libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(Error::io(
                "resizing the terminal",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// CloseIO: the process sees end of file on a stdin pipe; a terminal stays open (as with
    /// containerd-shim-runc-v2), only the shim stops forwarding input to it.
    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Releases copy threads still blocked opening a FIFO nobody else opened.
    pub fn close(&mut self) {
        self.close_stdin();
        unblock_fifo(&self.paths.stdin, libc::O_WRONLY);
        for p in [&self.paths.stdout, &self.paths.stderr] {
            if let Ok(Sink::Fifo(p)) = parse_sink(p) {
                unblock_fifo(&p.to_string_lossy(), libc::O_RDONLY);
            }
        }
        self.console = None;
    }
}

/// Opening the other end of a FIFO non-blockingly wakes a thread blocked in open(2) on it.
fn unblock_fifo(path: &str, flags: i32) {
    if path.is_empty() || path.contains("://") {
        return;
    }
    let _ = OpenOptions::new()
        .read(flags == libc::O_RDONLY)
        .write(flags == libc::O_WRONLY)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::io("creating a pipe", e.into()))
}

fn spawn_copier(name: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(COPY_STACK)
        .spawn(f)
        .map(drop)
        .ctx(|| "starting a copy thread")
}

/// FIFO -> `dst` (stdin). Closes `dst` at end of input unless it is a terminal.
fn copy_fifo_in(fifo: PathBuf, dst: Arc<Mutex<Option<File>>>, terminal: bool) -> Result<()> {
    spawn_copier("stdin", move || {
        // Blocks until the client opens its end.
        let Ok(mut src) = File::open(&fifo) else {
            return;
        };
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let guard = dst.lock().unwrap_or_else(|e| e.into_inner());
            let Some(w) = guard.as_ref() else { break };
            if (&*w).write_all(&buf[..n]).is_err() {
                break;
            }
        }
        if !terminal {
            dst.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    })
}

/// `src` (pipe or pty master) -> FIFO. Keeps draining `src` if the reader goes away, so the
/// container never blocks on a full pipe.
fn copy_out(src: File, fifo: PathBuf, pending: Arc<Pending>) -> Result<()> {
    pending.add();
    let p2 = pending.clone();
    spawn_copier("stdout", move || {
        let dst = OpenOptions::new().write(true).open(&fifo).ok();
        copy_loop(src, dst);
        p2.done();
    })
    .inspect_err(|_| pending.done())
}

fn copy_to_file(src: File, dst: File, pending: Arc<Pending>) -> Result<()> {
    pending.add();
    let p2 = pending.clone();
    spawn_copier("stdout", move || {
        copy_loop(src, Some(dst));
        p2.done();
    })
    .inspect_err(|_| pending.done())
}

fn copy_loop(mut src: File, mut dst: Option<File>) {
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break, // EIO: the pty slave side is closed
        };
        if let Some(d) = dst.as_mut() {
            if d.write_all(&buf[..n]).is_err() {
                dst = None;
            }
        }
    }
}

/// Starts a `binary://` logger: stdout pipe on its fd 3, stderr on fd 4, and fd 5 it closes
/// (or writes to) once ready. Returns the container's ends of the two pipes.
fn start_logger(path: &Path, args: &[String], ns: &str, id: &str) -> Result<(OwnedFd, OwnedFd)> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    exits::init();
    let mut cmd = Command::new(path);
    cmd.args(args)
        .env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", ns)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    // SAFETY: the closure only calls dup2, which is async-signal-safe, on fds that are open in
    // the parent; dup2 clears FD_CLOEXEC on the new descriptors 3, 4 and 5.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            // Move sources out of the way first in case they already sit on 3..5.
            let tmp: Vec<RawFd> = fds
                .iter()
                .map(|&f| libc::fcntl(f, libc::F_DUPFD_CLOEXEC, 10))
                .collect();
            for (i, f) in tmp.iter().enumerate() {
                if *f < 0 || libc::dup2(*f, 3 + i as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .ctx(|| format!("starting logging binary {}", path.display()))?;
    // Nobody waits for the logger; claim its exit so it is not kept around.
    let (tx, _) = std::sync::mpsc::channel();
    exits::route(child.id() as i32, tx);
    drop(cmd);
    drop((out_r, err_r, ready_w));
    // Ready when fd 5 is closed or written to; a logger that never says so fails the create.
    let mut pfd = libc::pollfd {
        fd: ready_r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, LOGGER_READY_MS) };
    if n <= 0 {
        return Err(Error::Runtime(format!(
            "logging binary {} did not signal readiness on fd 5 within {} s",
            path.display(),
            LOGGER_READY_MS / 1000
        )));
    }
    Ok((out_w, err_w))
}
