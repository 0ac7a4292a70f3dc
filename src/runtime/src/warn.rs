//! The runtime's warnings: something in the config is skipped and the operation goes on (an
//! unknown capability, a relative mount destination). The CLI points them at its `--log`
//! output, where runc logs its warnings too and containerd reads them; without a hook they go
//! to stderr.

use std::sync::OnceLock;

static HOOK: OnceLock<fn(&str)> = OnceLock::new();

/// Sends the runtime's warnings to `hook` (the first call wins).
pub fn set_hook(hook: fn(&str)) {
    let _ = HOOK.set(hook);
}

/// Logs a warning.
pub fn warn(msg: &str) {
    match HOOK.get() {
        Some(hook) => hook(msg),
        None => eprintln!("warning: {msg}"),
    }
}
