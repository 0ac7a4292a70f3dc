//! Bad input: every case fails with a one-line error naming the problem, a non-zero exit, and
//! leaves nothing behind.

use berth_integration::*;

/// Runs `create` expecting failure; checks the message (berth only) and that nothing is left.
fn create_fails(e: &Env, want: &str) {
    let id = e.id("bad");
    let err = e.fails(&["create", &id]);
    if is_berth() {
        assert_eq!(
            err.trim().lines().count(),
            1,
            "error is not one line: {err}"
        );
        assert!(
            err.contains(want),
            "error {err:?} does not mention {want:?}"
        );
    }
    e.assert_clean();
}

#[test]
fn malformed_config_json_is_rejected() {
    let e = Env::new("badjson");
    std::fs::write(
        e.bundle.join("config.json"),
        "{\"ociVersion\": \"1.0.2\", \"process\": {",
    )
    .unwrap();
    create_fails(&e, "config.json");
}

#[test]
fn missing_config_json_is_rejected() {
    let e = Env::new("nojson");
    std::fs::remove_file(e.bundle.join("config.json")).unwrap();
    create_fails(&e, "config.json");
}

#[test]
fn unknown_namespace_type_is_rejected() {
    let mut e = Env::new("badns");
    e.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "bogus"}))
    });
    create_fails(&e, "unknown namespace type \"bogus\"");
}

#[test]
fn relative_cwd_is_rejected() {
    let mut e = Env::new("relcwd");
    e.edit(|c| c["process"]["cwd"] = "tmp".into());
    create_fails(&e, "process.cwd");
}

#[test]
fn missing_rootfs_is_rejected() {
    let e = Env::new("norootfs");
    std::fs::remove_dir_all(e.bundle.join("rootfs")).unwrap();
    create_fails(&e, "rootfs");
}

#[test]
fn empty_args_are_rejected() {
    let mut e = Env::new("noargs");
    e.args(&[]);
    create_fails(&e, "process.args");
}

#[test]
fn missing_executable_fails_create() {
    let mut e = Env::new("noexe");
    e.args(&["/bin/does-not-exist"]);
    create_fails(&e, "does-not-exist");
    e.args(&["nosuchcmd"]);
    create_fails(&e, "executable file not found in $PATH");
}

#[test]
fn missing_bind_mount_source_fails_create() {
    let mut e = Env::new("nosrc");
    e.edit(|c| c["mounts"].as_array_mut().unwrap().push(serde_json::json!({"destination": "/mnt/x", "type": "bind", "source": "/no/such/dir", "options": ["rbind"]})));
    create_fails(&e, "/no/such/dir");
}

#[test]
fn bad_container_ids_are_rejected() {
    let e = Env::new("badid");
    for id in ["../x", "/", "a/b", "..", &"x".repeat(1025)] {
        let err = e.fails(&["create", id]);
        if is_berth() {
            assert!(err.contains("container id"), "{id}: {err}");
        }
    }
    let err = e.fails(&["create", ""]);
    assert!(!err.is_empty());
    assert!(!e.dir.join("x").exists());
    e.assert_clean();
}

#[test]
fn duplicate_id_fails_and_keeps_the_first() {
    let mut e = Env::new("dup");
    e.sh("sleep 100");
    let id = e.id("dup");
    e.ok(&["create", &id]);
    let err = e.fails(&["create", &id]);
    if is_berth() {
        assert!(err.contains("already exists"), "{err}");
    }
    assert_eq!(e.status(&id), "created");
    e.ok(&["delete", "-f", &id]);
    e.assert_clean();
}

#[test]
fn commands_on_unknown_container_fail() {
    let e = Env::new("unknown");
    for args in [
        vec!["start", "nope"],
        vec!["state", "nope"],
        vec!["kill", "nope", "KILL"],
        vec!["ps", "nope"],
        vec!["exec", "nope", "true"],
        vec!["pause", "nope"],
    ] {
        let err = e.fails(&args);
        if is_berth() {
            assert!(err.contains("does not exist"), "{args:?}: {err}");
        }
    }
}

#[test]
fn unknown_flag_is_rejected() {
    let e = Env::new("badflag");
    let out = e.rt(&["create", "--bogus-flag", "x"]);
    assert!(!out.status.success());
    e.assert_clean();
}

#[test]
fn terminal_without_console_socket_is_rejected() {
    let mut e = Env::new("noconsole");
    e.edit(|c| c["process"]["terminal"] = true.into());
    create_fails(&e, "console");
}

#[test]
fn hostname_without_uts_namespace_is_rejected() {
    let mut e = Env::new("nouts");
    e.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "uts")
    });
    create_fails(&e, "uts");
}

#[test]
fn failing_setup_step_names_step_path_and_errno() {
    let mut e = Env::new("badmount");
    // A file where a directory mount is needed: mounting tmpfs on a regular file fails.
    std::fs::write(e.bundle.join("rootfs/notadir"), "x").unwrap();
    e.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            serde_json::json!({"destination": "/notadir", "type": "tmpfs", "source": "tmpfs"}),
        )
    });
    create_fails(&e, "/notadir");
}
