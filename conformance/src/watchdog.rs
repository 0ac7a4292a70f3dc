//! A last resort against a runtime that blocks the driver in a way no per-command timeout
//! covers: when one case runs far longer than any case should, report it and stop the run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

pub struct Watchdog {
    current: Arc<Mutex<(&'static str, Instant)>>,
}

impl Watchdog {
    pub fn enter(&self, case: &'static str) {
        if let Ok(mut c) = self.current.lock() {
            *c = (case, Instant::now());
        }
    }
}

pub fn start() -> Watchdog {
    let current = Arc::new(Mutex::new(("", Instant::now())));
    let seen = Arc::clone(&current);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let (name, since) = match seen.lock() {
            Ok(c) => *c,
            Err(_) => return,
        };
        if !name.is_empty() && since.elapsed() > LIMIT {
            println!("FAIL {name}: still running after {} s; the run is aborted (work directory left in place)", LIMIT.as_secs());
            println!("run aborted: the runtime blocked the driver");
            std::process::exit(2);
        }
    });
    Watchdog { current }
}
