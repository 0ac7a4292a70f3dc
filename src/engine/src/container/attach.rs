//! `attach`: the monitor serves the container's streams on an abstract unix socket
//! (`bay-attach/<id>`; abstract names have no path-length limit and vanish with the
//! monitor). Output goes to every client framed as docker's stdcopy stream (8-byte header:
//! stream 1 or 2, three zero bytes, big-endian length); a client's input goes to the
//! container's stdin when it was opened with `-i`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::{Arc, Mutex};

use super::error::{ContainerError, Result};
use super::model::Container;
use crate::engine::Engine;

/// The frame type that carries the exit code.
pub const EXIT_STREAM: u8 = 3;

fn addr(id: &str) -> io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(format!("bay-attach/{id}"))
}

/// The attached clients of one container.
#[derive(Clone, Default)]
pub struct Clients(Arc<Mutex<Vec<UnixStream>>>);

impl Clients {
    /// Sends a chunk of `stream` (1 stdout, 2 stderr) to every client; drops those gone.
    pub fn send(&self, stream: u8, data: &[u8]) {
        let Ok(mut v) = self.0.lock() else { return };
        if v.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(data.len() + 8);
        frame.extend_from_slice(&[stream, 0, 0, 0]);
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        frame.extend_from_slice(data);
        v.retain_mut(|c| c.write_all(&frame).is_ok());
    }

    /// Ends every client's output with the exit code (a frame of stream 3 holding a
    /// big-endian i32: bay's own addition, so `attach` and `wait` learn the code even when
    /// `--rm` removes the container right after).
    pub fn close(&self, code: i64) {
        self.send(EXIT_STREAM, &(code as i32).to_be_bytes());
        if let Ok(mut v) = self.0.lock() {
            for c in v.drain(..) {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// Serves attach clients in a background thread for as long as the monitor lives.
/// `stdin` receives what clients type, when the container keeps stdin open.
pub fn serve(id: &str, clients: Clients, stdin: Option<Arc<Mutex<File>>>) -> io::Result<()> {
    let l = UnixListener::bind_addr(&addr(id)?)?;
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { continue };
            if let (Some(target), Ok(mut input)) = (stdin.clone(), conn.try_clone()) {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match input.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                let ok = target
                                    .lock()
                                    .map(|mut t| t.write_all(&buf[..n]).is_ok())
                                    .unwrap_or(false);
                                if !ok {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
            if let Ok(mut v) = clients.0.lock() {
                v.push(conn);
            }
        }
    });
    Ok(())
}

/// Reads frames until the exit code; None if the stream ends without one.
pub fn read_exit(sock: &mut UnixStream) -> Option<i64> {
    let mut header = [0u8; 8];
    loop {
        sock.read_exact(&mut header).ok()?;
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0u8; len];
        sock.read_exact(&mut data).ok()?;
        if header[0] == EXIT_STREAM && len == 4 {
            return Some(i32::from_be_bytes([data[0], data[1], data[2], data[3]]) as i64);
        }
    }
}

impl Engine {
    /// Connects to a running container's monitor.
    pub fn attach(&self, c: &Container) -> Result<UnixStream> {
        if !c.status.is_up() || !self.monitor_alive(c) {
            return Err(ContainerError::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        if c.status == super::Status::Paused {
            return Err(ContainerError::Conflict(
                "You cannot attach to a paused container, unpause it first".into(),
            ));
        }
        let a = addr(&c.id).map_err(|e| ContainerError::io("attach address", e))?;
        UnixStream::connect_addr(&a).map_err(|e| {
            ContainerError::Runtime(format!(
                "cannot attach to container {}: its monitor does not answer: {e}",
                c.short_id()
            ))
        })
    }
}
