//! `-info`: describe the runtime to containerd (protobuf RuntimeInfo on stdout), embedding the
//! runtime binary's `features` JSON.

use std::io::{Read, Write};

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::types::introspection::{RuntimeInfo, RuntimeVersion};

use crate::options::ShimOptions;

pub fn print(runtime_id: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    crate::exits::wait_directly();
    let mut input = Vec::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        std::io::stdin()
            .read_to_end(&mut input)
            .context("reading runtime options from stdin")?;
    }
    let options = if input.is_empty() {
        None
    } else {
        Some(Any::parse_from_bytes(&input).context("decoding runtime options")?)
    };
    let opts = ShimOptions::from_any(options.as_ref())?;
    let rt = opts.runtime("default")?;
    let features = rt.features()?;
    let info = RuntimeInfo {
        name: runtime_id.to_string(),
        version: Some(RuntimeVersion {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: rt.version(),
            ..Default::default()
        })
        .into(),
        options: options.into(),
        features: Some(Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/features/Features".into(),
            value: features,
            ..Default::default()
        })
        .into(),
        ..Default::default()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&info.write_to_bytes()?)
        .context("writing runtime info")?;
    out.flush().context("writing runtime info")?;
    Ok(())
}
