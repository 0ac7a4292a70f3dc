//! bay-engine: images, registry, build, containers, networks, volumes (in progress).
