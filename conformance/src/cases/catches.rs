//! For the self-test: the text the intended check prints when its case's sabotage is in place.
//! A sabotage caught by some other failure (a crash, a timeout elsewhere) does not count, so
//! each entry pins the check that must notice the misbehaviour.

/// True when `why` mentions one of the `|`-separated alternatives expected for `case`.
pub fn caught(case: &str, why: &str) -> bool {
    expected(case).split('|').any(|alt| why.contains(alt))
}

pub fn expected(case: &str) -> &'static str {
    match case {
        "runtime.state.created" | "runtime.create.process-not-run" => "after create",
        "runtime.start.running" => "status after start",
        "runtime.start.twice-fails" => "second start",
        "runtime.start.stopped-fails" => "start of a stopped",
        "runtime.start.no-process-fails" => "without process",
        "runtime.kill.running" | "runtime.kill.created" => "still running",
        "runtime.kill.stopped-fails" => "kill of a stopped",
        "runtime.exit.code" => "exit status",
        "runtime.delete.stopped" => "after delete",
        "runtime.delete.running-fails" => "delete of a running",
        "runtime.delete.created-fails" => "delete of a created",
        "runtime.delete.keeps-foreign-resources" => "did not create",
        "runtime.create.duplicate-id-fails" => "same id",
        "runtime.create.invalid-id-fails" => "accepted the id",
        "runtime.create.no-config-fails" => "without config.json",
        "runtime.create.failure-leaves-nothing" => "unmountable",
        "runtime.create.config-changes-ignored" => "changed-after-create|checker did not finish",
        c if c.ends_with("missing-fails") => "does not exist",
        c if c.ends_with("no-id-fails") => "without a container id",
        c if c.ends_with("-rejected") => "accepted the invalid config",
        "config.mounts.default-filesystems" => "/dev/mqueue",
        "config.root.path-relative" | "config.root.path-absolute" => "root.path",
        "config.root.readonly" | "config.root.writable" => "root.readonly",
        "config.mounts.options" => "option noexec",
        "config.mounts.bind" => "/bind-dir",
        "config.mounts.order" => "/same",
        "config.mounts.destination-relative" => "relative-dest",
        "config.mounts.recursive-read-only" => "rro applies",
        "config.process.args" => "process.args",
        "config.process.args-path-lookup" => "failed",
        "config.process.cwd" => "process.cwd",
        "config.process.env" => "WITH_EQ",
        "config.process.user" => "process.user.uid",
        "config.process.user-umask" => "umask",
        "config.process.rlimits" => "RLIMIT_CORE",
        "config.process.capabilities" => "capabilities.bounding",
        "config.process.capabilities-ambient" => "capabilities.ambient",
        "config.process.no-new-privileges" | "config.process.no-new-privileges-false" => {
            "noNewPrivileges"
        }
        "config.process.oom-score-adj"
        | "config.process.oom-score-adj-unset"
        | "config.process.oom-score-adj-zero"
        | "config.process.oom-score-adj-negative" => "oomScoreAdj",
        "config.process.console-size-ignored"
        | "config.extensibility.unknown-properties"
        | "config.annotations.unknown-key"
        | "config.process.capabilities-unknown-ignored" => "refusing this config",
        "config.process.terminal" => "console socket",
        "config.hostname" => "hostname",
        "config.domainname" => "domainname",
        "hooks.order" => "hook order",
        "hooks.state-on-stdin" => "state JSON",
        "hooks.prestart-failure"
        | "hooks.create-runtime-failure"
        | "hooks.create-container-failure"
        | "hooks.start-container-failure" => "generated no error",
        "hooks.poststart-failure-warns" | "hooks.poststop-failure-warns" => "did not run",
        "hooks.timeout" => "past its",
        "linux.namespaces.new" => "new namespace",
        "linux.namespaces.inherit" => "inherited",
        "linux.namespaces.path" => "joined",
        "linux.namespaces.user-mappings" => "uidMappings",
        "linux.devices" => "conformance-fuse",
        "linux.devices.defaults" => "/dev/zero",
        "linux.resources.devices" => "cgroup denies",
        "linux.cgroups.path" => "want cgroupsPath",
        "linux.resources.memory" => "memory.limit",
        "linux.resources.cpu" => "cpu.shares",
        "linux.resources.cpu-realtime" => "realtimeRuntime",
        "linux.resources.pids" => "pids.limit",
        "linux.resources.block-io-throttle" => "throttleReadBpsDevice",
        "linux.resources.block-io-weight" => "blockIO.weight",
        "linux.resources.hugepage-limits" => "hugepageLimits",
        "linux.resources.network" => "classID",
        "linux.resources.rdma" => "rdma",
        "linux.resources.unified" => "unified",
        "linux.sysctl" => "shm_rmid_forced",
        "linux.seccomp" => "getppid",
        "linux.seccomp.unset" => "seccomp unset",
        c if c.starts_with("linux.rootfs-propagation.") => "rootfsPropagation",
        "linux.masked-paths" => "maskedPaths",
        "linux.personality" => "personality",
        "linux.namespaces.time" => "time",
        "config.process.io-priority" => "ioPriority",
        "config.process.scheduler" => "scheduler",
        "linux.readonly-paths" => "readonlyPaths",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_case_names_the_check_that_catches_its_sabotage() {
        let missing: Vec<&str> = super::super::all()
            .iter()
            .map(|c| c.name)
            .filter(|n| super::expected(n).is_empty())
            .collect();
        assert!(
            missing.is_empty(),
            "cases without an expected catch: {missing:?}"
        );
    }

    #[test]
    fn every_case_has_a_sabotage() {
        for c in super::super::all() {
            assert!(!c.sabotage.env().is_empty(), "{} has no sabotage", c.name);
        }
    }

    #[test]
    fn case_names_are_unique() {
        let mut names: Vec<&str> = super::super::all().iter().map(|c| c.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
