//! Runs the conformance suite as part of `cargo test`: against the workspace's berth by default,
//! or the runtime named by CONFORMANCE_RUNTIME (e.g. /usr/sbin/runc). The failures must be exactly
//! the runtime's documented known failures (known-failures/<binary name>.txt, or the file named
//! by CONFORMANCE_KNOWN_FAILURES), so a regression or a fix both show up.
//! Needs root (real namespaces and cgroups) and jq (self-test).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn runtime() -> PathBuf {
    if let Ok(p) = std::env::var("CONFORMANCE_RUNTIME") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/berth")
}

fn run_suite(extra: &[&str]) -> (String, BTreeSet<String>, (usize, usize, usize)) {
    let rt = runtime();
    assert!(
        rt.exists(),
        "runtime under test {} does not exist (set CONFORMANCE_RUNTIME)",
        rt.display()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_berth-conformance"))
        .arg("--runtime")
        .arg(&rt)
        .args(extra)
        .output()
        .expect("running berth-conformance");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = text.lines().last().unwrap_or("");
    let nums: Vec<usize> = last
        .split([' ', ','])
        .filter_map(|w| w.parse().ok())
        .collect();
    let shape = nums.len() == 3
        && *last
            == format!(
                "{} passed, {} failed, {} skipped",
                nums[0], nums[1], nums[2]
            );
    assert!(shape, "the last line is not `N passed, M failed, K skipped`: {last:?}\nstdout:\n{text}\nstderr:\n{stderr}");
    let failed = text
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .map(|l| l.split(':').next().unwrap_or(l).to_string())
        .collect();
    (text, failed, (nums[0], nums[1], nums[2]))
}

/// The runtime's known failures: (always failing, flaky). A line `? case` marks a case that
/// fails only sometimes (a race in the runtime); it may pass or fail.
fn known_failures() -> (BTreeSet<String>, BTreeSet<String>) {
    let file = std::env::var("CONFORMANCE_KNOWN_FAILURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let name = runtime()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("known-failures")
                .join(format!("{name}.txt"))
        });
    let (mut always, mut flaky) = (BTreeSet::new(), BTreeSet::new());
    for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
        let entry = line.split('#').next().unwrap_or("").trim();
        match entry.strip_prefix('?') {
            Some(case) => flaky.insert(case.trim().to_string()),
            None if !entry.is_empty() => always.insert(entry.to_string()),
            None => false,
        };
    }
    (always, flaky)
}

#[test]
fn runtime_fails_exactly_its_known_failures() {
    let (text, failed, (passed, _, _)) = run_suite(&[]);
    let (known, flaky) = known_failures();
    let new: Vec<_> = failed
        .iter()
        .filter(|c| !known.contains(*c) && !flaky.contains(*c))
        .collect();
    // Known failures that passed (a skip, e.g. on a host that cannot run the case, says nothing).
    let passed_cases: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("PASS "))
        .map(|l| l.split(' ').next().unwrap_or(l).to_string())
        .collect();
    let fixed: Vec<_> = known.intersection(&passed_cases).collect();
    assert!(
        new.is_empty(),
        "cases failing that are not known failures: {new:?}\n{text}"
    );
    assert!(
        fixed.is_empty(),
        "known failures that now pass (update known-failures/): {fixed:?}\n{text}"
    );
    assert!(passed >= 60, "only {passed} cases passed:\n{text}");
}

#[test]
fn self_test_catches_every_sabotage() {
    let (text, failed, (passed, _, _)) = run_suite(&["--self-test"]);
    // A case the runtime already fails cannot show its sabotage being caught by the intended
    // check (its normal failure comes first); the normal run proves those checks can fail.
    let (known, flaky) = known_failures();
    let uncaught: Vec<_> = failed
        .iter()
        .filter(|c| !known.contains(*c) && !flaky.contains(*c))
        .collect();
    assert!(
        uncaught.is_empty(),
        "sabotages not caught by their check (checks that pass vacuously): {uncaught:?}\n{text}"
    );
    assert!(
        passed >= 80,
        "only {passed} sabotages were exercised:\n{text}"
    );
}

#[test]
fn comparison_table_has_a_row_per_case_and_totals() {
    let outdir =
        std::env::temp_dir().join(format!("conformance-table-test-{}", std::process::id()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/conformance.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(format!("first={}", runtime().display()))
        .arg(format!("second={}", runtime().display()))
        .env("CONFORMANCE_BIN", env!("CARGO_BIN_EXE_berth-conformance"))
        .env("CONFORMANCE_ARGS", "--filter runtime.state")
        .env("OUT", &outdir)
        .output()
        .expect("running hack/conformance.sh");
    let _ = std::fs::remove_dir_all(&outdir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "conformance.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(
        lines.first().copied(),
        Some("| case | first | second |"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("| runtime.state.created | pass | pass |")),
        "{text}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("| **total** |") && l.contains(" passed, ")),
        "{text}"
    );
}

#[test]
fn missing_runtime_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth-conformance"))
        .env_remove("CONFORMANCE_RUNTIME")
        .output()
        .expect("running berth-conformance");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim(),
        "berth-conformance: no runtime given: pass --runtime PATH (or set CONFORMANCE_RUNTIME)"
    );
}

#[test]
fn nonexistent_runtime_is_a_one_line_error_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth-conformance"))
        .args(["--runtime", "/nonexistent/runtime"])
        .output()
        .expect("running berth-conformance");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/runtime") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn table_script_rejects_a_runtime_that_is_not_executable() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/conformance.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("/nonexistent/runtime")
        .env("CONFORMANCE_BIN", env!("CARGO_BIN_EXE_berth-conformance"))
        .output()
        .expect("running hack/conformance.sh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/nonexistent/runtime is not an executable runtime"),
        "{err}"
    );
}
