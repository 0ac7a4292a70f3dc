//! The containerd Task service (ttrpc `containerd.task.v2.Task`).
//!
//! Locking: one mutex over all containers. Lifecycle transitions (create, start, exec start,
//! exit, delete) publish their events while holding it, onto one ordered queue, which gives
//! containerd the order it requires: create, start, exit, delete; exec-added, exec-started,
//! exit. Runtime commands run under the lock too; their own exits are routed by `exits`
//! without taking it, so nothing waits on itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use containerd_shim::api::Empty;
use containerd_shim::api::{
    CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse,
    DeleteRequest, DeleteResponse, ExecProcessRequest, KillRequest, PidsRequest, PidsResponse,
    ResizePtyRequest, ShutdownRequest, StartRequest, StartResponse, StateRequest, StateResponse,
    StatsRequest, StatsResponse, UpdateTaskRequest, WaitRequest, WaitResponse,
};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::ProcessDetails;
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::{self, TtrpcContext};
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{ExitSignal, Task};

use crate::cgroups::{self, Cgroups};
use crate::error::{Error, IoContext, Result};
use crate::events::Events;
use crate::exits::{self, Exit};
use crate::mount::{self, RootfsMount};
use crate::options::ShimOptions;
use crate::process::{timestamp, Process, Status};
use crate::runtime::{LaunchOpts, Runtime};
use crate::stdio::{self, StdioPaths};

/// How long an exit waits for the process's output to drain before it is reported.
const IO_DRAIN: Duration = Duration::from_secs(2);

struct Container {
    id: String,
    bundle: PathBuf,
    runtime: Runtime,
    opts: ShimOptions,
    rootfs_mounted: bool,
    init: Process,
    execs: HashMap<String, Process>,
    cgroups: Option<Cgroups>,
    /// Without its own pid namespace, a container's other processes outlive its init.
    kill_all_on_exit: bool,
    /// The init's exit, held back until the container's execs have exited.
    init_exit: Option<Exit>,
}

impl Container {
    fn process(&self, exec_id: &str) -> Result<&Process> {
        if exec_id.is_empty() {
            return Ok(&self.init);
        }
        self.execs
            .get(exec_id)
            .ok_or_else(|| Error::NotFound(format!("process {exec_id}")))
    }

    fn process_mut(&mut self, exec_id: &str) -> Result<&mut Process> {
        if exec_id.is_empty() {
            return Ok(&mut self.init);
        }
        self.execs
            .get_mut(exec_id)
            .ok_or_else(|| Error::NotFound(format!("process {exec_id}")))
    }
}

#[derive(Default)]
struct State {
    containers: HashMap<String, Container>,
}

#[derive(Clone)]
pub struct Service {
    ns: String,
    state: Arc<Mutex<State>>,
    events: Events,
    exits: Sender<Exit>,
    exit_signal: Arc<ExitSignal>,
}

impl Service {
    pub fn new(ns: &str, publisher: RemotePublisher, exit_signal: Arc<ExitSignal>) -> Self {
        // our own publisher (see events.rs); the library's connection is closed
        drop(publisher);
        let (exits, exit_rx) = mpsc::channel::<Exit>();
        let svc = Service {
            ns: ns.to_string(),
            state: Arc::default(),
            events: Events::start(ns),
            exits,
            exit_signal,
        };
        let s2 = svc.clone();
        let _ = std::thread::Builder::new()
            .name("exit-handler".into())
            .stack_size(256 * 1024)
            .spawn(move || s2.handle_exits(exit_rx));
        exits::init();
        svc
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, topic: &'static str, ev: impl Message) {
        self.events.publish(topic, &ev);
    }

    fn handle_exits(&self, rx: Receiver<Exit>) {
        for e in rx {
            self.handle_exit(e);
        }
    }

    fn handle_exit(&self, e: Exit) {
        let find = |st: &mut State| -> Option<(String, String)> {
            st.containers.values().find_map(|c| {
                std::iter::once(&c.init)
                    .chain(c.execs.values())
                    .find(|p| p.pid == e.pid && p.status != Status::Stopped)
                    .map(|p| (c.id.clone(), p.exec_id.clone()))
            })
        };
        let (pending, cid, eid) = {
            let mut st = self.lock();
            let Some((cid, eid)) = find(&mut st) else {
                return;
            };
            let p = st.containers.get(&cid).and_then(|c| c.process(&eid).ok());
            (
                p.and_then(|p| p.io.as_ref().map(|io| io.pending.clone())),
                cid,
                eid,
            )
        };
        // Report the exit after the output (bounded: a daemonised child may keep the pipe).
        if let Some(p) = pending {
            p.wait(IO_DRAIN);
        }
        let mut st = self.lock();
        let Some(c) = st.containers.get_mut(&cid) else {
            return;
        };
        if eid.is_empty() {
            if c.init.status == Status::Stopped || c.init_exit.is_some() {
                return;
            }
            if c.kill_all_on_exit {
                let _ = c.runtime.kill(&c.id, &c.bundle, 9, true);
            }
            // containerd expects the execs' exits before the init's (they die with it)
            if c.execs.values().any(Process::is_running) {
                c.init_exit = Some(e);
                return;
            }
            self.finish_init(c, e);
            return;
        }
        let Ok(p) = c.process_mut(&eid) else { return };
        if p.status == Status::Stopped {
            return;
        }
        p.status = Status::Stopped;
        p.exit.set(e.status as u32, e.at);
        let pid = p.pid as u32;
        self.publish(
            topics::TASK_EXIT_EVENT_TOPIC,
            TaskExit {
                container_id: cid.clone(),
                id: eid,
                pid,
                exit_status: e.status as u32,
                exited_at: Some(timestamp(e.at)).into(),
                ..Default::default()
            },
        );
        if !c.execs.values().any(Process::is_running) {
            if let Some(ie) = c.init_exit.take() {
                self.finish_init(c, ie);
            }
        }
    }

    /// Records and reports the init's exit.
    fn finish_init(&self, c: &mut Container, e: Exit) {
        c.init.status = Status::Stopped;
        c.init.exit.set(e.status as u32, e.at);
        self.publish(
            topics::TASK_EXIT_EVENT_TOPIC,
            TaskExit {
                container_id: c.id.clone(),
                id: c.id.clone(),
                pid: c.init.pid as u32,
                exit_status: e.status as u32,
                exited_at: Some(timestamp(e.at)).into(),
                ..Default::default()
            },
        );
    }

    fn do_create(&self, req: CreateTaskRequest) -> Result<CreateTaskResponse> {
        let id = req.id.clone();
        if id.is_empty() {
            return Err(Error::InvalidArgument(
                "container id must not be empty".into(),
            ));
        }
        if !req.checkpoint.is_empty() || !req.parent_checkpoint.is_empty() {
            return Err(Error::Unimplemented(
                "restoring a container from a checkpoint".into(),
            ));
        }
        let mut opts = ShimOptions::from_any(req.options.as_ref())?;
        let runtime = opts.runtime(&self.ns)?;
        let bundle = PathBuf::from(&req.bundle);
        let spec: serde_json::Value = std::fs::read(bundle.join("config.json"))
            .ctx(|| format!("reading {}/config.json", bundle.display()))
            .and_then(|d| {
                serde_json::from_slice(&d).map_err(|e| {
                    Error::InvalidArgument(format!("parsing {}/config.json: {e}", bundle.display()))
                })
            })?;
        let has_pidns = spec["linux"]["namespaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .any(|n| n["type"] == "pid" && n["path"].as_str().unwrap_or("").is_empty())
            })
            .unwrap_or(false);
        // The `delete` subcommand must later find the same runtime.
        opts.binary_name = runtime.binary.to_string_lossy().to_string();
        opts.root = runtime
            .root
            .parent()
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        opts.save(&bundle)?;

        let mut st = self.lock();
        if st.containers.contains_key(&id) {
            return Err(Error::AlreadyExists(format!("container {id}")));
        }
        let rootfs = bundle.join("rootfs");
        let mounted = !req.rootfs.is_empty();
        if mounted {
            std::fs::create_dir_all(&rootfs).ctx(|| format!("creating {}", rootfs.display()))?;
            let mounts: Vec<RootfsMount> = req
                .rootfs
                .iter()
                .map(|m| RootfsMount {
                    kind: &m.type_,
                    source: &m.source,
                    options: &m.options,
                })
                .collect();
            mount::mount_all(&mounts, &rootfs)?;
        }
        let paths = StdioPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let mut init = Process::new("", paths.clone());
        let undo = |init: &mut Process, created: bool| {
            init.close_io();
            if created {
                let _ = runtime.delete(&id, Some(&bundle), true);
            }
            if mounted {
                let _ = mount::unmount_all(&rootfs);
            }
        };
        let (stdio, io, console) = match stdio::prepare(&paths, &self.ns, &id) {
            Ok(v) => v,
            Err(e) => {
                undo(&mut init, false);
                return Err(e);
            }
        };
        init.io = Some(io);
        let pid_file = bundle.join("init.pid");
        let console_path = console.as_ref().map(|c| c.path());
        let launch = LaunchOpts {
            pid_file: Some(&pid_file),
            console_socket: console_path.as_deref(),
            no_pivot: opts.no_pivot_root,
            no_new_keyring: opts.no_new_keyring,
        };
        if let Err(e) = runtime.create(&id, &bundle, &launch, stdio) {
            undo(&mut init, true);
            return Err(e);
        }
        let started = (|| -> Result<i32> {
            if let Some(io) = init.io.as_mut() {
                io.start()?;
                if let Some(cs) = console.as_ref() {
                    io.attach_console(cs.receive()?)?;
                }
            }
            read_pid(&pid_file)
        })();
        drop(console);
        let pid = match started {
            Ok(p) => p,
            Err(e) => {
                undo(&mut init, true);
                return Err(e);
            }
        };
        init.pid = pid;
        exits::route(pid, self.exits.clone());
        let cgroups = cgroups::of_pid(pid).ok();
        if let Some(cg) = &cgroups {
            let events = self.events.clone();
            let cid = id.clone();
            if let Err(e) = crate::oom::watch(cg, move || {
                let ev = TaskOOM {
                    container_id: cid.clone(),
                    ..Default::default()
                };
                events.publish(topics::TASK_OOM_EVENT_TOPIC, &ev);
            }) {
                log::warn!("no oom events for {id}: {e}");
            }
        }
        self.publish(
            topics::TASK_CREATE_EVENT_TOPIC,
            TaskCreate {
                container_id: id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                io: Some(TaskIO {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                    ..Default::default()
                })
                .into(),
                checkpoint: req.checkpoint.clone(),
                pid: pid as u32,
                ..Default::default()
            },
        );
        st.containers.insert(
            id.clone(),
            Container {
                id,
                bundle,
                runtime,
                opts,
                rootfs_mounted: mounted,
                init,
                execs: HashMap::new(),
                cgroups,
                kill_all_on_exit: !has_pidns,
                init_exit: None,
            },
        );
        Ok(CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn container<'a>(st: &'a mut State, id: &str) -> Result<&'a mut Container> {
        st.containers
            .get_mut(id)
            .ok_or_else(|| Error::NotFound(format!("container {id}")))
    }

    fn do_start(&self, req: StartRequest) -> Result<StartResponse> {
        let mut st = self.lock();
        let c = Self::container(&mut st, &req.id)?;
        if req.exec_id.is_empty() {
            if c.init.status != Status::Created {
                return Err(Error::FailedPrecondition(format!(
                    "container {} is not in created state",
                    c.id
                )));
            }
            c.runtime.start(&c.id, &c.bundle)?;
            c.init.status = Status::Running;
            let pid = c.init.pid as u32;
            self.publish(
                topics::TASK_START_EVENT_TOPIC,
                TaskStart {
                    container_id: c.id.clone(),
                    pid,
                    ..Default::default()
                },
            );
            return Ok(StartResponse {
                pid,
                ..Default::default()
            });
        }
        if !matches!(c.init.status, Status::Running | Status::Paused) {
            return Err(Error::FailedPrecondition(format!(
                "container {} is not running",
                c.id
            )));
        }
        let ns = self.ns.clone();
        let (runtime, bundle, cid, opts) = (
            c.runtime.clone(),
            c.bundle.clone(),
            c.id.clone(),
            c.opts.clone(),
        );
        let p = c.process_mut(&req.exec_id)?;
        if p.status != Status::Created {
            return Err(Error::FailedPrecondition(format!(
                "exec {} was already started",
                p.exec_id
            )));
        }
        let spec_path = bundle.join(format!("{}.process.json", p.exec_id));
        let pid_file = bundle.join(format!("{}.pid", p.exec_id));
        std::fs::write(&spec_path, &p.spec).ctx(|| format!("writing {}", spec_path.display()))?;
        let res = (|| -> Result<i32> {
            let (stdio, io, console) = stdio::prepare(&p.stdio, &ns, &cid)?;
            p.io = Some(io);
            let console_path = console.as_ref().map(|c| c.path());
            let launch = LaunchOpts {
                pid_file: Some(&pid_file),
                console_socket: console_path.as_deref(),
                no_pivot: false,
                no_new_keyring: opts.no_new_keyring,
            };
            runtime.exec(&cid, &bundle, &spec_path, &launch, stdio)?;
            if let Some(io) = p.io.as_mut() {
                io.start()?;
                if let Some(cs) = console.as_ref() {
                    io.attach_console(cs.receive()?)?;
                }
            }
            read_pid(&pid_file)
        })();
        let _ = std::fs::remove_file(&spec_path);
        let pid = match res {
            Ok(pid) => pid,
            Err(e) => {
                p.close_io();
                p.status = Status::Stopped;
                p.exit.set(255, SystemTime::now());
                return Err(e);
            }
        };
        p.pid = pid;
        p.status = Status::Running;
        exits::route(pid, self.exits.clone());
        self.publish(
            topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            TaskExecStarted {
                container_id: cid,
                exec_id: req.exec_id.clone(),
                pid: pid as u32,
                ..Default::default()
            },
        );
        Ok(StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn do_delete(&self, req: DeleteRequest) -> Result<DeleteResponse> {
        let mut st = self.lock();
        let c = Self::container(&mut st, &req.id)?;
        if !req.exec_id.is_empty() {
            let p = c.process(&req.exec_id)?;
            if matches!(p.status, Status::Running | Status::Paused) {
                return Err(Error::FailedPrecondition(format!(
                    "exec {} is still running",
                    req.exec_id
                )));
            }
            let mut p = c
                .execs
                .remove(&req.exec_id)
                .ok_or_else(|| Error::NotFound(format!("process {}", req.exec_id)))?;
            p.close_io();
            let _ = std::fs::remove_file(c.bundle.join(format!("{}.pid", p.exec_id)));
            let (status, at) = p.exit_status();
            return Ok(DeleteResponse {
                pid: p.pid as u32,
                exit_status: status,
                exited_at: at.into(),
                ..Default::default()
            });
        }
        match c.init.status {
            Status::Running | Status::Paused => {
                return Err(Error::FailedPrecondition(format!(
                    "container {} is still running",
                    c.id
                )));
            }
            Status::Created => {
                // never started: force-delete kills the waiting init
                c.runtime.delete(&c.id, Some(&c.bundle), true)?;
                c.init.exit.set(128 + 9, SystemTime::now());
                c.init.status = Status::Stopped;
            }
            Status::Stopped => {
                if c.runtime.delete(&c.id, Some(&c.bundle), false).is_err() {
                    c.runtime.delete(&c.id, Some(&c.bundle), true)?;
                }
            }
        }
        let mut c = st
            .containers
            .remove(&req.id)
            .ok_or_else(|| Error::NotFound(format!("container {}", req.id)))?;
        c.init.close_io();
        for p in c.execs.values_mut() {
            p.close_io();
        }
        if c.rootfs_mounted {
            mount::unmount_all(&c.bundle.join("rootfs"))?;
        }
        let (status, at) = c.init.exit_status();
        self.publish(
            topics::TASK_DELETE_EVENT_TOPIC,
            TaskDelete {
                container_id: c.id.clone(),
                pid: c.init.pid as u32,
                exit_status: status,
                exited_at: at.clone().into(),
                id: c.id.clone(),
                ..Default::default()
            },
        );
        Ok(DeleteResponse {
            pid: c.init.pid as u32,
            exit_status: status,
            exited_at: at.into(),
            ..Default::default()
        })
    }

    fn do_exec(&self, req: ExecProcessRequest) -> Result<()> {
        let mut st = self.lock();
        let c = Self::container(&mut st, &req.id)?;
        if req.exec_id.is_empty() {
            return Err(Error::InvalidArgument("exec id must not be empty".into()));
        }
        if c.execs.contains_key(&req.exec_id) {
            return Err(Error::AlreadyExists(format!("exec {}", req.exec_id)));
        }
        if c.init.status == Status::Stopped {
            return Err(Error::FailedPrecondition(format!(
                "container {} is stopped",
                c.id
            )));
        }
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        if serde_json::from_slice::<serde_json::Value>(&spec).is_err() {
            return Err(Error::InvalidArgument(format!(
                "exec {}: process spec is not valid json",
                req.exec_id
            )));
        }
        let mut p = Process::new(
            &req.exec_id,
            StdioPaths {
                stdin: req.stdin,
                stdout: req.stdout,
                stderr: req.stderr,
                terminal: req.terminal,
            },
        );
        p.spec = spec;
        c.execs.insert(req.exec_id.clone(), p);
        self.publish(
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            TaskExecAdded {
                container_id: req.id,
                exec_id: req.exec_id,
                ..Default::default()
            },
        );
        Ok(())
    }

    fn do_kill(&self, req: KillRequest) -> Result<()> {
        let mut st = self.lock();
        let c = Self::container(&mut st, &req.id)?;
        let p = c.process(&req.exec_id)?;
        if p.status == Status::Stopped && !req.all {
            return Err(Error::NotFound("process already finished".into()));
        }
        if !req.exec_id.is_empty() {
            if p.status == Status::Created {
                return Err(Error::FailedPrecondition(format!(
                    "exec {} was not started",
                    req.exec_id
                )));
            }
            // SAFETY: kill(2) with a pid we reap ourselves (it cannot be reused before we do).
            if unsafe { libc::kill(p.pid, req.signal as i32) } < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ESRCH) {
                    return Err(Error::NotFound("process already finished".into()));
                }
                return Err(Error::io(format!("signalling exec {}", req.exec_id), e));
            }
            return Ok(());
        }
        c.runtime
            .kill(&c.id, &c.bundle, req.signal, req.all)
            .map_err(|e| match e {
                Error::Runtime(m) if m.contains("not running") || m.contains("does not exist") => {
                    Error::NotFound("process already finished".into())
                }
                e => e,
            })
    }

    fn do_pause(&self, id: &str, pause: bool) -> Result<()> {
        let mut st = self.lock();
        let c = Self::container(&mut st, id)?;
        let (from, to) = if pause {
            (Status::Running, Status::Paused)
        } else {
            (Status::Paused, Status::Running)
        };
        if c.init.status != from {
            return Err(Error::FailedPrecondition(format!(
                "container {} is not {}",
                c.id,
                if pause { "running" } else { "paused" }
            )));
        }
        if pause {
            c.runtime.pause(&c.id, &c.bundle)?;
            self.publish(
                topics::TASK_PAUSED_EVENT_TOPIC,
                TaskPaused {
                    container_id: c.id.clone(),
                    ..Default::default()
                },
            );
        } else {
            c.runtime.resume(&c.id, &c.bundle)?;
            self.publish(
                topics::TASK_RESUMED_EVENT_TOPIC,
                TaskResumed {
                    container_id: c.id.clone(),
                    ..Default::default()
                },
            );
        }
        c.init.status = to;
        Ok(())
    }

    fn do_state(&self, req: StateRequest) -> Result<StateResponse> {
        let mut st = self.lock();
        let c = Self::container(&mut st, &req.id)?;
        let p = c.process(&req.exec_id)?;
        let (status, at) = p.exit_status();
        Ok(StateResponse {
            id: if req.exec_id.is_empty() {
                c.id.clone()
            } else {
                req.exec_id.clone()
            },
            bundle: c.bundle.to_string_lossy().to_string(),
            pid: p.pid as u32,
            status: p.status.to_proto().into(),
            stdin: p.stdio.stdin.clone(),
            stdout: p.stdio.stdout.clone(),
            stderr: p.stdio.stderr.clone(),
            terminal: p.stdio.terminal,
            exit_status: status,
            exited_at: at.into(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        })
    }

    fn do_pids(&self, req: PidsRequest) -> Result<PidsResponse> {
        let mut st = self.lock();
        let c = Self::container(&mut st, &req.id)?;
        let pids = c.runtime.ps(&c.id, &c.bundle)?;
        let processes = pids
            .into_iter()
            .map(|pid| {
                let mut pi = ProcessInfo {
                    pid,
                    ..Default::default()
                };
                if let Some(e) = c.execs.values().find(|e| e.pid as u32 == pid) {
                    let d = ProcessDetails {
                        exec_id: e.exec_id.clone(),
                        ..Default::default()
                    };
                    if let Ok(v) = d.write_to_bytes() {
                        pi.info = Some(Any {
                            type_url: "containerd.runc.v1.ProcessDetails".into(),
                            value: v,
                            ..Default::default()
                        })
                        .into();
                    }
                }
                pi
            })
            .collect();
        Ok(PidsResponse {
            processes,
            ..Default::default()
        })
    }

    fn do_stats(&self, req: StatsRequest) -> Result<StatsResponse> {
        let cg = {
            let mut st = self.lock();
            let c = Self::container(&mut st, &req.id)?;
            match &c.cgroups {
                Some(cg) => cg.clone(),
                None => cgroups::of_pid(c.init.pid)?,
            }
        };
        let (type_url, value) = match cg.unified() {
            Some(dir) => (crate::metrics_v2::TYPE_URL, crate::metrics_v2::collect(dir)),
            None => {
                let m = cg.metrics_v1()?;
                let v = m
                    .write_to_bytes()
                    .map_err(|e| Error::Runtime(format!("encoding metrics: {e}")))?;
                ("io.containerd.cgroups.v1.Metrics", v)
            }
        };
        Ok(StatsResponse {
            stats: Some(Any {
                type_url: type_url.into(),
                value,
                ..Default::default()
            })
            .into(),
            ..Default::default()
        })
    }

    fn do_update(&self, req: UpdateTaskRequest) -> Result<()> {
        let mut st = self.lock();
        let c = Self::container(&mut st, &req.id)?;
        let res = req
            .resources
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        if serde_json::from_slice::<serde_json::Value>(&res).is_err() {
            return Err(Error::InvalidArgument(
                "update: resources are not valid json".into(),
            ));
        }
        c.runtime.update(&c.id, &c.bundle, &res)
    }

    fn with_process<T>(
        &self,
        id: &str,
        exec_id: &str,
        f: impl FnOnce(&mut Process) -> Result<T>,
    ) -> Result<T> {
        let mut st = self.lock();
        let c = Self::container(&mut st, id)?;
        f(c.process_mut(exec_id)?)
    }
}

fn read_pid(path: &Path) -> Result<i32> {
    let s = std::fs::read_to_string(path).ctx(|| format!("reading pid file {}", path.display()))?;
    s.trim()
        .parse()
        .map_err(|_| Error::Runtime(format!("pid file {} holds no pid", path.display())))
}

type TResult<T> = ttrpc::Result<T>;

impl Task for Service {
    fn create(&self, _: &TtrpcContext, req: CreateTaskRequest) -> TResult<CreateTaskResponse> {
        Ok(self.do_create(req)?)
    }

    fn start(&self, _: &TtrpcContext, req: StartRequest) -> TResult<StartResponse> {
        Ok(self.do_start(req)?)
    }

    fn delete(&self, _: &TtrpcContext, req: DeleteRequest) -> TResult<DeleteResponse> {
        Ok(self.do_delete(req)?)
    }

    fn pids(&self, _: &TtrpcContext, req: PidsRequest) -> TResult<PidsResponse> {
        Ok(self.do_pids(req)?)
    }

    fn pause(&self, _: &TtrpcContext, req: containerd_shim::api::PauseRequest) -> TResult<Empty> {
        self.do_pause(&req.id, true)?;
        Ok(Empty::new())
    }

    fn resume(&self, _: &TtrpcContext, req: containerd_shim::api::ResumeRequest) -> TResult<Empty> {
        self.do_pause(&req.id, false)?;
        Ok(Empty::new())
    }

    fn checkpoint(
        &self,
        _: &TtrpcContext,
        _: containerd_shim::api::CheckpointTaskRequest,
    ) -> TResult<Empty> {
        Err(
            Error::Unimplemented("checkpoint (containerd-shim-berth-v2 cannot restore yet)".into())
                .into(),
        )
    }

    fn kill(&self, _: &TtrpcContext, req: KillRequest) -> TResult<Empty> {
        self.do_kill(req)?;
        Ok(Empty::new())
    }

    fn exec(&self, _: &TtrpcContext, req: ExecProcessRequest) -> TResult<Empty> {
        self.do_exec(req)?;
        Ok(Empty::new())
    }

    fn resize_pty(&self, _: &TtrpcContext, req: ResizePtyRequest) -> TResult<Empty> {
        self.with_process(&req.id, &req.exec_id, |p| match &p.io {
            Some(io) => io.resize(req.width, req.height),
            None => Ok(()),
        })?;
        Ok(Empty::new())
    }

    fn close_io(&self, _: &TtrpcContext, req: CloseIORequest) -> TResult<Empty> {
        self.with_process(&req.id, &req.exec_id, |p| {
            if req.stdin {
                if let Some(io) = &p.io {
                    io.close_stdin();
                }
            }
            Ok(())
        })?;
        Ok(Empty::new())
    }

    fn update(&self, _: &TtrpcContext, req: UpdateTaskRequest) -> TResult<Empty> {
        self.do_update(req)?;
        Ok(Empty::new())
    }

    fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> TResult<WaitResponse> {
        let cell = self.with_process(&req.id, &req.exec_id, |p| Ok(p.exit.clone()))?;
        let (status, at) = cell.wait();
        Ok(WaitResponse {
            exit_status: status,
            exited_at: Some(timestamp(at)).into(),
            ..Default::default()
        })
    }

    fn stats(&self, _: &TtrpcContext, req: StatsRequest) -> TResult<StatsResponse> {
        Ok(self.do_stats(req)?)
    }

    fn state(&self, _: &TtrpcContext, req: StateRequest) -> TResult<StateResponse> {
        Ok(self.do_state(req)?)
    }

    fn connect(&self, _: &TtrpcContext, req: ConnectRequest) -> TResult<ConnectResponse> {
        let st = self.lock();
        let task_pid = st
            .containers
            .get(&req.id)
            .map(|c| c.init.pid as u32)
            .unwrap_or(0);
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            ..Default::default()
        })
    }

    fn shutdown(&self, _: &TtrpcContext, _: ShutdownRequest) -> TResult<Empty> {
        // A shim serving a pod stays while any of its containers remains.
        if self.lock().containers.is_empty() {
            self.exit_signal.signal();
        }
        Ok(Empty::new())
    }
}
