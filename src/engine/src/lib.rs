//! bay-engine: images, registry, build, containers, networks, volumes. Knows nothing of
//! terminals or command lines: the `bay` binary renders what this crate returns.

pub mod archive;
pub mod build;
pub mod container;
pub mod digest;
pub mod engine;
pub mod error;
pub mod images;
pub mod layer;
pub mod network;
pub mod oci;
pub mod reference;
pub mod registry;
pub mod store;
pub mod timefmt;

pub use digest::Digest;
pub use engine::{Engine, Options};
pub use error::{Error, Result};
pub use reference::Reference;
