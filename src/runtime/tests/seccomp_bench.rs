//! Benchmark (ignored by default; run by hack/bench-seccomp.sh in --release):
//! compile and install time of docker's default profile, and what the filter adds to a
//! syscall.

mod seccomp_common;

use berth_runtime::seccomp;
use seccomp_common::*;
use serde_json::Value;
use std::time::Instant;

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs `f` in a forked child and returns the u64 it measured (sent back over a pipe).
fn measure_in_child(f: impl FnOnce() -> u64) -> u64 {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two fds into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let st = in_child(|| {
        let v = f();
        // SAFETY: raw write of 8 bytes from a stack value to our pipe.
        unsafe { libc::write(fds[1], (&v as *const u64).cast(), 8) };
        0
    });
    assert_eq!(exited(st), Some(0), "{st:?}");
    let mut v = 0u64;
    // SAFETY: raw read of 8 bytes into a stack value.
    unsafe {
        libc::read(fds[0], (&mut v as *mut u64).cast(), 8);
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    v
}

#[test]
#[ignore]
fn bench_docker_default_profile() {
    let json: Value = serde_json::from_str(DOCKER_DEFAULT).unwrap();
    let spec = profile(json);

    // Parsing the profile JSON (the runtime does this as part of config.json anyway).
    let t = Instant::now();
    let n = 2000;
    for _ in 0..n {
        let p: berth_runtime::spec::Seccomp = serde_json::from_str(DOCKER_DEFAULT).unwrap();
        std::hint::black_box(p);
    }
    let parse_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;

    let mut compile = Vec::new();
    let mut filter = None;
    for _ in 0..n {
        let t = Instant::now();
        let f = seccomp::compile(&spec).unwrap();
        compile.push(t.elapsed().as_secs_f64() * 1e6);
        filter = Some(f);
    }
    let filter = filter.unwrap();

    let mut install = Vec::new();
    for _ in 0..200 {
        let ns = measure_in_child(|| {
            let t0 = now_ns();
            let ok = seccomp::install(&filter).is_ok();
            let t1 = now_ns();
            if ok {
                t1 - t0
            } else {
                u64::MAX
            }
        });
        assert_ne!(ns, u64::MAX, "install failed");
        install.push(ns as f64 / 1000.0);
    }

    // Cost per syscall: getppid is allowed by the profile (a cheap syscall); with the binary
    // search its cost should not depend on where it sits in the list.
    let calls = 1_000_000u64;
    let per_call = |with: bool| {
        measure_in_child(|| {
            if with && seccomp::install(&filter).is_err() {
                return u64::MAX;
            }
            let t0 = now_ns();
            for _ in 0..calls {
                let _ = sys(libc::SYS_getppid, [0; 6]);
            }
            (now_ns() - t0) / (calls / 1000)
        }) as f64
            / 1000.0
    };
    // Best of 5: the machine is shared, the minimum is the least disturbed run.
    let best = |with: bool| (0..5).map(|_| per_call(with)).fold(f64::MAX, f64::min);
    let bare = best(false);
    let filtered = best(true);

    println!(
        "docker default profile: {} BPF instructions",
        filter.instructions().len()
    );
    println!("parse profile json:    {parse_us:.1} us");
    println!("compile (median):      {:.1} us", median(compile));
    println!("install (median):      {:.1} us", median(install));
    println!("getppid without filter: {bare:.1} ns");
    println!("getppid with filter:    {filtered:.1} ns");
}
