//! Containers: create, start under a per-container monitor, stop, remove, logs, inspect.
//! Each container has a row in the store's database and a directory
//! `<root>/containers/<id>/` holding its OCI bundle (config.json), overlay upper/work dirs,
//! the merged rootfs mountpoint, hostname/hosts/resolv.conf and docker's json-file log.

pub mod attach;
pub mod commit;
pub mod copy;
pub mod create;
pub mod error;
pub mod exec;
pub mod files;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod model;
pub mod monitor;
pub mod mounts;
pub mod names;
pub mod rootfs;
pub mod runtime;
pub mod seccomp;
pub mod spec;
pub(crate) mod sys;
pub mod user;

use std::path::PathBuf;

pub use create::CreateOptions;
pub use error::{ContainerError, Result};
pub use model::{Container, HostConfig, Mount, Status};

use crate::engine::Engine;

impl Engine {
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root().join("containers").join(id)
    }

    /// The runtime's state root (`berth --root`).
    pub fn runtime_root(&self) -> PathBuf {
        self.root().join("runtime")
    }

    /// Finds a container by full ID, name (with or without docker's leading `/`), or unique
    /// ID prefix, as docker does.
    pub fn container(&self, s: &str) -> Result<Container> {
        let not_found = || ContainerError::NoSuchContainer(s.to_string());
        if s.is_empty() {
            return Err(not_found());
        }
        let name = s.strip_prefix('/').unwrap_or(s);
        let db = &self.store.db;
        if let Some(row) = db.read(|q| q.container(s))? {
            return Container::from_row(row);
        }
        if let Some(row) = db.read(|q| q.container_by_name(name))? {
            return Container::from_row(row);
        }
        if s.len() > 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(not_found());
        }
        let ids = db.read(|q| q.container_ids_with_prefix(s))?;
        match ids.as_slice() {
            [] => Err(not_found()),
            [id] => match db.read(|q| q.container(id))? {
                Some(row) => Container::from_row(row),
                None => Err(not_found()),
            },
            _ => Err(ContainerError::Conflict(format!(
                "multiple IDs found with provided prefix: {s}"
            ))),
        }
    }

    /// A container by exact ID, if it still exists.
    pub fn container_by_id(&self, id: &str) -> Result<Option<Container>> {
        match self.store.db.read(|q| q.container(id))? {
            Some(row) => Ok(Some(Container::from_row(row)?)),
            None => Ok(None),
        }
    }

    /// All containers, newest first.
    pub fn containers(&self) -> Result<Vec<Container>> {
        let rows = self.store.db.read(|q| q.containers())?;
        rows.into_iter().map(Container::from_row).collect()
    }

    pub(crate) fn save_state(&self, c: &Container) -> Result<bool> {
        Ok(self
            .store
            .db
            .tx(|q| q.set_container_state(&c.id, &c.state()))?)
    }
}
