//! containerd-shim-berth-v2: a containerd shim v2 that drives berth (or any runc-compatible
//! runtime binary) one command per operation.

mod cgroups;
mod error;
mod events;
mod exits;
mod info;
mod metrics_v2;
mod mount;
mod oom;
mod options;
mod process;
mod runtime;
mod service;
mod shim;
mod stdio;

const RUNTIME_ID: &str = "io.containerd.berth.v2";

fn main() {
    // One malloc arena for all threads: the shim idles with a dozen threads, and per-thread
    // arenas would dominate its resident memory.
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| matches!(a.as_str(), "-v" | "--v" | "-version" | "--version"))
    {
        println!(
            "containerd-shim-berth-v2:\n  Version:  {}\n  Runtime:  {RUNTIME_ID}",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    if args
        .iter()
        .any(|a| matches!(a.as_str(), "-info" | "--info"))
    {
        if let Err(e) = info::print(RUNTIME_ID) {
            eprintln!("containerd-shim-berth-v2: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    containerd_shim::run::<shim::BerthShim>(RUNTIME_ID, None);
}
