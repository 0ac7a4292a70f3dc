//! Handing the notify fd to a seccomp agent at `linux.seccomp.listenerPath`.
//!
//! Same wire format as runc 1.1: one connection to the unix stream socket, one message whose
//! payload is the JSON `ContainerProcessState` of the runtime spec and whose SCM_RIGHTS array
//! carries the listener fd, named in `fds` as "seccompFd".

use super::SeccompError;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde_json::{json, Value};
use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

/// Builds the `ContainerProcessState` document from the container's state JSON.
pub(super) fn process_state(
    state_json: &[u8],
    metadata: Option<&str>,
) -> Result<Vec<u8>, SeccompError> {
    let state: Value = serde_json::from_slice(state_json)
        .map_err(|e| SeccompError::State(format!("invalid container state json: {e}")))?;
    let obj = state
        .as_object()
        .ok_or_else(|| SeccompError::State("container state json is not an object".into()))?;
    let pid = obj.get("pid").and_then(Value::as_i64).unwrap_or(0);
    let version = obj
        .get("ociVersion")
        .and_then(Value::as_str)
        .unwrap_or(crate::spec::OCI_VERSION)
        .to_string();
    let mut msg = json!({
        "ociVersion": version,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    // runc omits an empty metadata string.
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        msg["metadata"] = Value::String(m.to_string());
    }
    serde_json::to_vec(&msg).map_err(|e| SeccompError::State(e.to_string()))
}

pub(super) fn send(
    path: &str,
    fd: BorrowedFd<'_>,
    state_json: &[u8],
    metadata: Option<&str>,
) -> Result<(), SeccompError> {
    let msg = process_state(state_json, metadata)?;
    let err = |e: std::io::Error| SeccompError::Listener {
        path: path.to_string(),
        source: e,
    };
    let mut stream = UnixStream::connect(path).map_err(err)?;
    let fds = [fd.as_raw_fd()];
    let sent = loop {
        match sendmsg::<()>(
            stream.as_raw_fd(),
            &[IoSlice::new(&msg)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(err(e.into())),
        }
    };
    // A stream socket may take the payload in pieces; the fd went with the first one.
    stream.write_all(&msg[sent..]).map_err(err)?;
    Ok(())
}
