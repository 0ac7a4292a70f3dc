//! Reads the checker's TAP output.

pub struct Report {
    /// The plan line was seen: the checker ran to the end.
    pub complete: bool,
    pub failures: Vec<String>,
    /// Checks the checker could not make (`ok N - name # SKIP reason`).
    pub skips: Vec<String>,
    pub passed: usize,
}

pub fn parse(text: &str) -> Report {
    let mut r = Report {
        complete: false,
        failures: Vec::new(),
        skips: Vec::new(),
        passed: 0,
    };
    for line in text.lines() {
        if line.starts_with("1..") {
            r.complete = true;
        } else if let Some(rest) = line.strip_prefix("not ok ") {
            let rest = rest.split_once(" - ").map_or(rest, |x| x.1);
            r.failures.push(rest.to_string());
        } else if let Some((name, reason)) = line
            .strip_prefix("ok ")
            .and_then(|l| l.split_once(" # SKIP "))
        {
            let name = name.split_once(" - ").map_or(name, |x| x.1);
            r.skips.push(format!("{name}: {reason}"));
        } else if line.starts_with("ok ") {
            r.passed += 1;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_plan_are_read() {
        let r = parse("ok 1 - a\nnot ok 2 - b # got 1, want 2\nok 3 - c # SKIP x\n1..3\n");
        assert!(r.complete);
        assert_eq!(r.failures, vec!["b # got 1, want 2"]);
        assert_eq!(r.skips, vec!["c: x"]);
        assert_eq!(r.passed, 1);
    }

    #[test]
    fn missing_plan_means_incomplete() {
        assert!(!parse("ok 1 - a\n").complete);
    }
}
