//! Renders pull/push progress like docker's CLI: per-layer lines redrawn in place with
//! progress bars on a terminal, plain status lines otherwise, nothing with `-q`.

use std::io::Write;
use std::sync::Mutex;

use bay_engine::registry::{Progress, Status};

use crate::units::human_size_prec;

pub struct Printer {
    tty: bool,
    quiet: bool,
    skip_header: std::sync::atomic::AtomicBool,
    state: Mutex<Vec<String>>,
}

impl Printer {
    pub fn new(quiet: bool) -> Printer {
        Printer {
            tty: crate::isatty(1),
            quiet,
            skip_header: false.into(),
            state: Mutex::new(Vec::new()),
        }
    }

    /// Drops the next "The push refers to repository" line (pushing several tags).
    pub fn set_skip_header(&self, skip: bool) {
        self.skip_header
            .store(skip, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn line(&self, s: &str) {
        if !self.quiet {
            let _ = self.state.lock().map(|_| println!("{s}"));
        }
    }
}

fn bar(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>10}", human_size_prec(current, 4));
    }
    let width = 50;
    let filled = ((current.min(total) as f64 / total as f64) * width as f64) as usize;
    let arrow = if filled < width { ">" } else { "" };
    format!(
        "[{}{}{}]  {}/{}",
        "=".repeat(filled.saturating_sub(if arrow.is_empty() { 0 } else { 1 })),
        arrow,
        " ".repeat(width - filled),
        human_size_prec(current, 4),
        human_size_prec(total, 4)
    )
}

impl Progress for Printer {
    fn message(&self, line: &str) {
        if line.starts_with("The push refers to")
            && self.skip_header.load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        self.line(line);
    }

    fn layer(&self, id: &str, status: Status, current: u64, total: u64) {
        if self.quiet || (!self.tty && status.is_progress()) {
            return;
        }
        let text = if status.is_progress() {
            format!("{id}: {} {}", status.text(), bar(current, total))
        } else {
            format!("{id}: {}", status.text())
        };
        let Ok(mut ids) = self.state.lock() else {
            return;
        };
        let mut out = std::io::stdout().lock();
        if !self.tty {
            let _ = writeln!(out, "{text}");
            return;
        }
        match ids.iter().position(|x| x == id) {
            Some(i) => {
                let up = ids.len() - i;
                let _ = write!(out, "\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r");
            }
            None => {
                ids.push(id.to_string());
                let _ = writeln!(out, "{text}");
            }
        }
        let _ = out.flush();
    }
}
