//! berth-runtime: the OCI runtime core.
