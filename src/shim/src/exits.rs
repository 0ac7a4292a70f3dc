//! Routes child exit statuses to whoever waits for them.
//!
//! The shim is a child subreaper: containerd-shim's signal thread reaps *every* child (runtime
//! commands, container processes re-parented to us, log drivers) and reports them on its monitor.
//! Exits can arrive before the waiter knows the pid (a short-lived `exec` may be gone before its
//! pid file is read), so unclaimed exits are kept briefly and handed over on registration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};

/// One reaped child.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub pid: i32,
    /// Exit code, or 128 + signal number for a signalled process.
    pub status: i32,
    pub at: SystemTime,
}

/// How long an exit nobody claimed is kept: long enough for a pid file to be read.
const UNCLAIMED_TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Routes {
    waiters: HashMap<i32, Sender<Exit>>,
    unclaimed: HashMap<i32, (Exit, Instant)>,
}

static ROUTES: OnceLock<Mutex<Routes>> = OnceLock::new();

fn routes() -> &'static Mutex<Routes> {
    ROUTES.get_or_init(|| {
        // Subscribe before any child can exist, so no exit is missed.
        let sub = monitor_subscribe(Topic::Pid).expect("subscribing to the exit monitor");
        std::thread::Builder::new()
            .name("exits".into())
            .stack_size(64 * 1024)
            .spawn(move || dispatch(&sub.rx))
            .expect("starting the exit dispatcher");
        Mutex::new(Routes::default())
    })
}

static DIRECT: AtomicBool = AtomicBool::new(false);

/// For modes where containerd-shim reaps nothing (`-info`): callers wait for their children
/// themselves.
pub fn wait_directly() {
    DIRECT.store(true, Ordering::SeqCst);
}

pub fn direct() -> bool {
    DIRECT.load(Ordering::SeqCst)
}

/// Makes sure the dispatcher runs; call before spawning anything.
pub fn init() {
    if direct() {
        return;
    }
    let _ = routes();
}

fn dispatch(rx: &Receiver<containerd_shim::monitor::ExitEvent>) {
    for ev in rx.iter() {
        let Subject::Pid(pid) = ev.subject else {
            continue;
        };
        let exit = Exit {
            pid,
            status: ev.exit_code,
            at: SystemTime::now(),
        };
        let mut r = routes().lock().unwrap_or_else(|e| e.into_inner());
        match r.waiters.remove(&pid) {
            Some(tx) => {
                let _ = tx.send(exit);
            }
            None => {
                let now = Instant::now();
                r.unclaimed
                    .retain(|_, (_, t)| now.duration_since(*t) < UNCLAIMED_TTL);
                r.unclaimed.insert(pid, (exit, now));
            }
        }
    }
}

/// Sends the exit of `pid` to `tx`, at once if it already happened.
pub fn route(pid: i32, tx: Sender<Exit>) {
    let mut r = routes().lock().unwrap_or_else(|e| e.into_inner());
    if let Some((exit, _)) = r.unclaimed.remove(&pid) {
        let _ = tx.send(exit);
    } else {
        r.waiters.insert(pid, tx);
    }
}
