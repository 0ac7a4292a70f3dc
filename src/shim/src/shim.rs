//! The shim process lifecycle containerd drives: `start` (spawn the long-lived shim server and
//! print its socket address), `delete` (clean up after a shim that is gone), and serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use containerd_shim::api::DeleteResponse;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::util::write_address;
use containerd_shim::{spawn, Config, Error as ShimError, ExitSignal, Flags, Shim, StartOpts};

use crate::error::{Error, Result};
use crate::mount;
use crate::options::ShimOptions;
use crate::process::timestamp;
use crate::service::Service;

/// CRI puts every container of a pod in one shim, keyed by this annotation.
const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

pub struct BerthShim {
    exit: Arc<ExitSignal>,
    id: String,
    namespace: String,
    bundle: String,
}

impl Shim for BerthShim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        BerthShim {
            exit: Arc::default(),
            id: args.id.clone(),
            namespace: args.namespace.clone(),
            bundle: args.bundle.clone(),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        // containerd starts us in the bundle directory
        let grouping = std::fs::read("config.json")
            .ok()
            .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
            .and_then(|v| {
                v["annotations"][SANDBOX_ID_ANNOTATION]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| opts.id.clone());
        let (pid, address) = spawn(opts, &grouping, Vec::new())?;
        if pid != 0 {
            place_shim(pid as i32).map_err(|e| ShimError::Other(e.to_string()))?;
        }
        write_address(&address)?;
        Ok(address)
    }

    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let bundle = if self.bundle.is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            PathBuf::from(&self.bundle)
        };
        let opts = ShimOptions::load(&bundle).unwrap_or_default();
        match opts.runtime(&self.namespace) {
            Ok(rt) => {
                if let Err(e) = rt.delete(&self.id, Some(&bundle), true) {
                    eprintln!("containerd-shim-berth-v2: {e}");
                }
            }
            Err(e) => eprintln!("containerd-shim-berth-v2: {e}"),
        }
        mount::unmount_all(&bundle.join("rootfs")).map_err(|e| ShimError::Other(e.to_string()))?;
        // a shim that was killed could not remove its socket
        if let Ok(addr) = std::fs::read_to_string(bundle.join("address")) {
            let path = addr.trim().trim_start_matches("unix://");
            if std::fs::symlink_metadata(path)
                .map(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                .unwrap_or(false)
            {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(DeleteResponse {
            exit_status: 128 + 9,
            exited_at: Some(timestamp(SystemTime::now())).into(),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        Service::new(&self.namespace, publisher, self.exit.clone())
    }
}

/// Puts the new shim into the `ShimCgroup` of the runtime options containerd wrote on our
/// stdin, and gives it an OOM score just above containerd's (the shim should die first).
fn place_shim(pid: i32) -> Result<()> {
    use containerd_shim::protos::protobuf::well_known_types::any::Any;
    use containerd_shim::protos::protobuf::Message;
    use std::io::Read;
    let mut input = Vec::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        std::io::stdin()
            .read_to_end(&mut input)
            .map_err(|e| Error::io("reading runtime options", e))?;
    }
    if !input.is_empty() {
        let any = Any::parse_from_bytes(&input)
            .map_err(|e| Error::InvalidArgument(format!("decoding runtime options: {e}")))?;
        let opts = ShimOptions::from_any(Some(&any))?;
        if !opts.shim_cgroup.is_empty() {
            join_cgroup(pid, &opts.shim_cgroup)?;
        }
    }
    let parent = std::fs::read_to_string(format!(
        "/proc/{}/oom_score_adj",
        std::os::unix::process::parent_id()
    ))
    .ok()
    .and_then(|s| s.trim().parse::<i32>().ok())
    .unwrap_or(0);
    // raising the score needs no privilege; failure only costs the OOM preference
    let _ = std::fs::write(
        format!("/proc/{pid}/oom_score_adj"),
        (parent + 1).min(1000).to_string(),
    );
    Ok(())
}

/// Adds `pid` to cgroup `path` (relative to each hierarchy root) in every hierarchy that has it.
fn join_cgroup(pid: i32, path: &str) -> Result<()> {
    let rel = path.trim_start_matches('/');
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut dirs = vec![root.join(rel)];
    if let Ok(rd) = std::fs::read_dir(root) {
        dirs.extend(rd.flatten().map(|e| e.path().join(rel)));
    }
    let mut joined = 0;
    for d in dirs {
        let procs = d.join("cgroup.procs");
        if procs.exists() {
            std::fs::write(&procs, pid.to_string())
                .map_err(|e| Error::io(format!("writing {}", procs.display()), e))?;
            joined += 1;
        }
    }
    if joined == 0 {
        return Err(Error::NotFound(format!("shim cgroup {path}")));
    }
    Ok(())
}
