//! A container's processes (its init and its execs) as the shim tracks them.

use std::sync::{Arc, Condvar, Mutex};
use std::time::SystemTime;

use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::types::task::Status as TaskStatus;

use crate::stdio::{ProcessIo, StdioPaths};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn to_proto(self) -> TaskStatus {
        match self {
            Status::Created => TaskStatus::CREATED,
            Status::Running => TaskStatus::RUNNING,
            Status::Paused => TaskStatus::PAUSED,
            Status::Stopped => TaskStatus::STOPPED,
        }
    }
}

/// Exit status and time, set once; Wait blocks on it.
#[derive(Default)]
pub struct ExitCell {
    m: Mutex<Option<(u32, SystemTime)>>,
    cv: Condvar,
}

impl ExitCell {
    pub fn set(&self, status: u32, at: SystemTime) {
        let mut g = self.m.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some((status, at));
        }
        self.cv.notify_all();
    }

    pub fn get(&self) -> Option<(u32, SystemTime)> {
        *self.m.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn wait(&self) -> (u32, SystemTime) {
        let g = self.m.lock().unwrap_or_else(|e| e.into_inner());
        let g = self
            .cv
            .wait_while(g, |v| v.is_none())
            .unwrap_or_else(|e| e.into_inner());
        g.unwrap_or((0, SystemTime::UNIX_EPOCH))
    }
}

pub struct Process {
    /// Empty for the init process.
    pub exec_id: String,
    pub pid: i32,
    pub status: Status,
    pub exit: Arc<ExitCell>,
    pub stdio: StdioPaths,
    pub io: Option<ProcessIo>,
    /// The OCI process JSON of an exec.
    pub spec: Vec<u8>,
}

impl Process {
    pub fn new(exec_id: &str, stdio: StdioPaths) -> Self {
        Process {
            exec_id: exec_id.to_string(),
            pid: 0,
            status: Status::Created,
            exit: Arc::new(ExitCell::default()),
            stdio,
            io: None,
            spec: Vec::new(),
        }
    }

    pub fn exit_status(&self) -> (u32, Option<Timestamp>) {
        match self.exit.get() {
            Some((s, at)) => (s, Some(timestamp(at))),
            None => (0, None),
        }
    }

    /// Started and not yet exited.
    pub fn is_running(&self) -> bool {
        matches!(self.status, Status::Running | Status::Paused)
    }

    pub fn close_io(&mut self) {
        if let Some(io) = self.io.as_mut() {
            io.close();
        }
    }
}

pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
        ..Default::default()
    }
}
