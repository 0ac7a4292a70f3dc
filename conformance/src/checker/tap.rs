//! Minimal TAP producer (version 12 style, plan at the end).

#[derive(Default)]
pub struct Tap {
    n: usize,
    failed: usize,
}

/// Keeps a diagnostic on one line so the driver can show it next to the test name.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

impl Tap {
    pub fn check(&mut self, name: &str, ok: bool, detail: impl AsRef<str>) {
        self.n += 1;
        if ok {
            println!("ok {} - {}", self.n, name);
        } else {
            self.failed += 1;
            println!(
                "not ok {} - {} # {}",
                self.n,
                name,
                one_line(detail.as_ref())
            );
        }
    }

    /// Checks `got == want`, reporting both when they differ.
    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, name: &str, got: T, want: T) {
        let ok = got == want;
        self.check(name, ok, format!("got {got:?}, want {want:?}"));
    }

    pub fn skip(&mut self, name: &str, reason: &str) {
        self.n += 1;
        println!("ok {} - {} # SKIP {}", self.n, name, one_line(reason));
    }

    /// Prints the plan; returns true when something failed.
    pub fn finish(&self) -> bool {
        println!("1..{}", self.n);
        self.failed > 0
    }
}
