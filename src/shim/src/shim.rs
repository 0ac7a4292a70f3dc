//! The shim process lifecycle containerd drives: `start` (spawn the long-lived shim server and
//! print its socket address), `delete` (clean up after a shim that is gone), and serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use containerd_shim::api::DeleteResponse;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::util::write_address;
use containerd_shim::{spawn, Config, Error as ShimError, ExitSignal, Flags, Shim, StartOpts};

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
            // shim_cgroup from the options on stdin, and an OOM score just above containerd's
            if let Err(e) = containerd_shim::cgroup::set_cgroup_and_oom_score(pid) {
                eprintln!("containerd-shim-berth-v2: adjusting shim cgroup/oom score: {e}");
            }
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
