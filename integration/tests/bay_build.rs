//! `bay build`: real Dockerfile builds (RUN through target/debug/berth, layers in a private
//! store), docker's classic builder output, cache, contexts, and failures that leave nothing.
//! Needs `cargo build -p bay -p berth` first and busybox-static installed.

mod bay_common;

use std::path::Path;
use std::process::Command;

use bay_common::{dir_entries, mounts_under, run_ok, CtrBay, Out, TempDir};

fn write(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(p, body).unwrap();
}

fn ctx(files: &[(&str, &str)]) -> TempDir {
    let d = TempDir::new("build-ctx");
    for (n, b) in files {
        write(d.path(), n, b);
    }
    d
}

fn build(bay: &CtrBay, args: &[&str], dir: &Path) -> Out {
    let mut a: Vec<&str> = vec!["build"];
    a.extend(args);
    let d = dir.to_str().unwrap();
    a.push(d);
    bay.run(&a)
}

fn build_ok(bay: &CtrBay, args: &[&str], dir: &Path) -> String {
    let o = build(bay, args, dir);
    assert_eq!(o.code, 0, "build failed: {}{}", o.stdout, o.stderr);
    o.stdout
}

/// The ID in `Successfully built <id>`.
fn built_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("no ID in {out}"))
        .to_string()
}

fn run_in(bay: &CtrBay, image: &str, script: &str) -> String {
    bay.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        script,
    ])
}

fn config(bay: &CtrBay, image: &str) -> serde_json::Value {
    let out = bay.ok(&["image", "inspect", image]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["Config"].clone()
}

fn history(bay: &CtrBay, image: &str) -> String {
    bay.ok(&["history", "--no-trunc", image])
}

/// Nothing of a build is left: no mounts, runtime state, work dirs or temp files.
fn assert_nothing_left(bay: &CtrBay) {
    bay.assert_clean();
    let root = bay.root();
    assert!(mounts_under(&root).is_empty());
    assert!(bay.tmp_entries().is_empty(), "tmp: {:?}", bay.tmp_entries());
    let work: Vec<String> = dir_entries(&root.join("build"))
        .into_iter()
        .filter(|e| e != "cache")
        .collect();
    assert!(work.is_empty(), "build work dirs left: {work:?}");
}

fn is_short_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn copy_build_prints_classic_output_and_runs() {
    let bay = CtrBay::new();
    let c = ctx(&[
        ("Dockerfile", "FROM busybox\nCOPY index.html /www/\n"),
        ("index.html", "<h1>bay</h1>\n"),
    ]);
    let out = build_ok(&bay, &["-t", "web:v1"], c.path());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "Sending build context to Docker daemon  3.072kB",
        "{out}"
    );
    assert_eq!(lines[1], "");
    assert_eq!(lines[2], "Step 1/2 : FROM busybox");
    assert!(
        is_short_id(lines[3].strip_prefix(" ---> ").unwrap()),
        "{out}"
    );
    assert_eq!(lines[4], "Step 2/2 : COPY index.html /www/");
    let id = lines[5].strip_prefix(" ---> ").unwrap();
    assert!(is_short_id(id), "{out}");
    assert_eq!(lines[6], format!("Successfully built {id}"));
    assert_eq!(lines[7], "Successfully tagged web:v1");
    assert_eq!(lines.len(), 8, "{out}");
    assert_eq!(
        run_in(&bay, "web:v1", "cat /www/index.html"),
        "<h1>bay</h1>\n"
    );
    assert!(history(&bay, "web:v1").contains("/bin/sh -c #(nop) COPY file:"));
    assert_nothing_left(&bay);
}

#[test]
fn run_steps_stream_output_and_deletions_become_whiteouts() {
    let bay = CtrBay::new();
    let c = ctx(&[(
        "Dockerfile",
        "FROM busybox\n\
         RUN echo one > /a && mkdir -p /d/sub && echo x > /d/x && echo y > /d/sub/y && echo ran\n\
         RUN rm /a /d/x\n\
         RUN rm -rf /d/sub && mkdir /d/sub && echo z > /d/sub/z\n",
    )]);
    let out = build_ok(&bay, &["-t", "wh:1"], c.path());
    let lines: Vec<&str> = out.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("Step 2/4 : RUN"))
        .unwrap();
    let running = lines[i + 1].strip_prefix(" ---> Running in ").unwrap();
    assert!(is_short_id(running), "{out}");
    assert_eq!(lines[i + 2], "ran");
    assert_eq!(
        lines[i + 3],
        format!("Removing intermediate container {running}")
    );
    let got = run_in(&bay, "wh:1", "ls /a 2>&1; ls /d; ls /d/sub; cat /d/sub/z");
    assert!(got.contains("ls: /a: No such file or directory"), "{got}");
    assert_eq!(
        got.lines().skip(1).collect::<Vec<_>>(),
        ["sub", "z", "z"],
        "{got}"
    );
    let h = history(&bay, "wh:1");
    assert!(h.contains("/bin/sh -c rm /a /d/x"), "{h}");
    assert_nothing_left(&bay);
}

#[test]
fn metadata_instructions_land_in_the_image_config() {
    let bay = CtrBay::new();
    let c = ctx(&[(
        "Dockerfile",
        "FROM busybox\n\
         ENV A=1 B=\"two words\"\n\
         ENV OLD form value\n\
         WORKDIR /app\n\
         WORKDIR sub\n\
         USER 1000:1000\n\
         EXPOSE 80 53/udp\n\
         LABEL maintainer=\"me\" version=1.0\n\
         VOLUME /data\n\
         STOPSIGNAL SIGTERM\n\
         HEALTHCHECK --interval=5s --timeout=3s CMD wget -q localhost || exit 1\n\
         ONBUILD RUN mkdir /mydir\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
         CMD echo $A\n",
    )]);
    build_ok(&bay, &["-t", "meta:1", "--label", "extra=yes"], c.path());
    let cfg = config(&bay, "meta:1");
    let env: Vec<String> = serde_json::from_value(cfg["Env"].clone()).unwrap();
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert!(env.contains(&"A=1".to_string()));
    assert!(env.contains(&"B=two words".to_string()));
    assert!(env.contains(&"OLD=form value".to_string()));
    assert_eq!(cfg["WorkingDir"], "/app/sub");
    assert_eq!(cfg["User"], "1000:1000");
    assert_eq!(
        cfg["ExposedPorts"],
        serde_json::json!({"80/tcp": {}, "53/udp": {}})
    );
    assert_eq!(cfg["Labels"]["maintainer"], "me");
    assert_eq!(cfg["Labels"]["version"], "1.0");
    assert_eq!(cfg["Labels"]["extra"], "yes");
    assert_eq!(cfg["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(cfg["StopSignal"], "SIGTERM");
    assert_eq!(
        cfg["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "wget -q localhost || exit 1"], "Interval": 5_000_000_000i64, "Timeout": 3_000_000_000i64})
    );
    assert_eq!(cfg["OnBuild"], serde_json::json!(["RUN mkdir /mydir"]));
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["/bin/sh", "-c", "echo $A"]));
    let h = history(&bay, "meta:1");
    assert!(h.contains("/bin/sh -c #(nop)  ENV A=1 B=two words"), "{h}");
    assert!(
        h.contains("/bin/sh -c #(nop)  CMD [\"/bin/sh\" \"-c\" \"echo $A\"]"),
        "{h}"
    );
    assert_nothing_left(&bay);
}

#[test]
fn build_args_reach_run_but_not_the_image() {
    let bay = CtrBay::new();
    let c = ctx(&[(
        "Dockerfile",
        "ARG BASE=busybox\nFROM ${BASE}\nARG V=def\nARG W\nRUN echo \"$V-$W\" > /args\nENV E=${V:-none}\n",
    )]);
    let out = build_ok(
        &bay,
        &[
            "-t",
            "args:1",
            "--build-arg",
            "W=given",
            "--build-arg",
            "UNUSED=1",
        ],
        c.path(),
    );
    assert!(
        out.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{out}"
    );
    assert_eq!(
        run_in(&bay, "args:1", "cat /args; echo ${V:-unset} $E"),
        "def-given\nunset def\n"
    );
    let env = config(&bay, "args:1")["Env"].to_string();
    assert!(!env.contains("W=") && !env.contains("V="), "{env}");
    assert!(history(&bay, "args:1").contains("|2 V=def W=given /bin/sh -c echo \"$V-$W\" > /args"));
    assert_nothing_left(&bay);
}

#[test]
fn rebuild_uses_the_cache_and_a_changed_file_misses_it() {
    let bay = CtrBay::new();
    let c = ctx(&[
        ("Dockerfile", "FROM busybox\nRUN echo built > /f\nCOPY a.txt /\nCMD [\"sh\", \"-c\", \"cat /a.txt\"]\n"),
        ("a.txt", "one\n"),
    ]);
    let first = build_ok(&bay, &["-t", "cache:1"], c.path());
    assert!(!first.contains("Using cache"));
    let second = build_ok(&bay, &["-t", "cache:1"], c.path());
    assert_eq!(second.matches(" ---> Using cache").count(), 3, "{second}");
    assert!(!second.contains("Running in"), "{second}");
    assert_eq!(built_id(&first), built_id(&second));
    write(c.path(), "a.txt", "two\n");
    let third = build_ok(&bay, &["-t", "cache:1"], c.path());
    assert_eq!(third.matches(" ---> Using cache").count(), 1, "{third}");
    assert_ne!(built_id(&first), built_id(&third));
    assert_eq!(
        bay.ok(&["run", "--rm", "--network", "none", "cache:1"]),
        "two\n"
    );
    let nocache = build_ok(&bay, &["--no-cache", "-t", "cache:1"], c.path());
    assert!(!nocache.contains("Using cache"), "{nocache}");
    // Intermediate images are kept, untagged, and shown by `images -a`.
    let all = bay.ok(&["images", "-a", "-q"]);
    assert!(all.lines().count() > 4, "{all}");
    assert_nothing_left(&bay);
}

#[test]
fn intermediate_images_are_hidden_and_go_with_their_result() {
    let bay = CtrBay::new();
    let c = ctx(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo a > /a\nENV X=1\nRUN echo b > /b\n",
    )]);
    let id = built_id(&build_ok(&bay, &["-t", "mid:1"], c.path()));
    let base = bay.ok(&["images", "-q", "busybox"]).trim().to_string();
    // docker lists a build's untagged steps only with -a, and never as dangling
    let top = bay.ok(&["images", "-q"]);
    assert_eq!(top.lines().count(), 2, "{top}");
    let all = bay.ok(&["images", "-a", "-q"]);
    assert_eq!(all.lines().count(), 4, "{all}");
    assert_eq!(bay.ok(&["images", "-q", "-f", "dangling=true"]), "");
    let parent = bay.ok(&["image", "inspect", "-f", "{{.Parent}}", "mid:1"]);
    assert!(parent.starts_with("sha256:"), "{parent}");
    // the base image has a child now: deleting it by ID is refused, even forced
    let refused = bay.run(&["rmi", "-f", &base]);
    assert_ne!(refused.code, 0);
    assert_eq!(
        refused.stderr,
        format!(
            "Error response from daemon: conflict: unable to delete {base} (cannot be forced) - image has dependent child images\n"
        )
    );
    // removing the result takes its intermediate images along
    let out = bay.ok(&["rmi", "mid:1"]);
    assert!(
        out.starts_with(&format!("Untagged: mid:1\nDeleted: sha256:{id}")),
        "{out}"
    );
    assert_eq!(
        out.matches("Deleted: sha256:").count(),
        5,
        "3 images, 2 layers: {out}"
    );
    assert_eq!(bay.ok(&["images", "-a", "-q"]).trim(), base);
    bay.ok(&["rmi", &base]);
    assert_nothing_left(&bay);
}

#[test]
fn dockerignore_keeps_files_out_of_the_context() {
    let bay = CtrBay::new();
    let c = ctx(&[
        ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
        (".dockerignore", "*.log\n!keep.log\nsecret/\n**/*.tmp\n"),
        ("a.log", "x"),
        ("keep.log", "x"),
        ("secret/key", "x"),
        ("src/main.c", "x"),
        ("src/deep/x.tmp", "x"),
    ]);
    build_ok(&bay, &["-t", "ign:1"], c.path());
    let got = run_in(&bay, "ign:1", "cd /ctx && find . | sort");
    assert_eq!(
        got,
        ".\n./.dockerignore\n./Dockerfile\n./keep.log\n./src\n./src/deep\n./src/main.c\n"
    );
    let c2 = ctx(&[
        ("Dockerfile", "FROM busybox\nCOPY secret.txt /\n"),
        (".dockerignore", "secret.txt\n"),
        ("secret.txt", "x"),
    ]);
    let o = build(&bay, &[], c2.path());
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "COPY failed: file not found in build context or excluded by .dockerignore: stat secret.txt: file does not exist\n"
    );
    assert_nothing_left(&bay);
}

#[test]
fn copy_wildcards_chown_dest_rules_and_metadata() {
    let bay = CtrBay::new();
    let c = ctx(&[
        (
            "Dockerfile",
            "FROM busybox\n\
             RUN echo 'bin:x:2:2:bin:/bin:/bin/sh' >> /etc/passwd && echo 'bin:x:2:' >> /etc/group\n\
             COPY index.* ind?x.txt /www/\n\
             COPY --chown=bin run.sh /usr/local/bin/app\n\
             COPY --chown=10:11 dir /dest\n\
             WORKDIR /w\n\
             COPY [\"index.html\", \"rel/\"]\n",
        ),
        ("index.html", "h"),
        ("index.txt", "t"),
        ("run.sh", "#!/bin/sh\necho app\n"),
        ("dir/one", "1"),
        ("dir/sub/two", "2"),
    ]);
    std::fs::set_permissions(
        c.path().join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    run_ok(
        Command::new("touch")
            .args(["-d", "2001-02-03 04:05:06"])
            .arg(c.path().join("index.html")),
    );
    build_ok(&bay, &["-t", "cp:1"], c.path());
    let got = run_in(
        &bay,
        "cp:1",
        "ls /www; stat -c '%a %u:%g' /usr/local/bin/app; app; stat -c '%u:%g' /dest/one /dest/sub/two; ls /w/rel; date -u -r /www/index.html +%Y",
    );
    assert_eq!(
        got,
        "index.html\nindex.txt\n750 2:2\napp\n10:11\n10:11\nindex.html\n2001\n"
    );
    assert_nothing_left(&bay);
}

#[test]
fn multi_stage_copy_from_and_target() {
    let bay = CtrBay::new();
    let c = ctx(&[(
        "Dockerfile",
        "FROM busybox AS builder\nRUN echo artefact > /out && echo junk > /junk\n\
         FROM busybox\nCOPY --from=builder /out /got\nCOPY --from=0 /out /got0\nCMD [\"cat\", \"/got\"]\n",
    )]);
    let out = build_ok(&bay, &["-t", "ms:1"], c.path());
    assert!(out.contains("Step 6/6 : CMD [\"cat\", \"/got\"]"), "{out}");
    assert_eq!(
        run_in(&bay, "ms:1", "cat /got /got0; ls /junk 2>&1 || true"),
        "artefact\nartefact\nls: /junk: No such file or directory\n"
    );
    let t = build_ok(&bay, &["--target", "builder", "-t", "ms:builder"], c.path());
    assert!(t.contains("Step 2/2 : RUN"), "{t}");
    assert_eq!(run_in(&bay, "ms:builder", "cat /junk"), "junk\n");
    let o = build(&bay, &["--target", "nope"], c.path());
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "failed to reach build target nope in Dockerfile\n"
    );
    assert_nothing_left(&bay);
}

#[test]
fn dockerfile_or_tar_context_on_stdin() {
    let bay = CtrBay::new();
    let o = bay.run_stdin(
        &["build", "-t", "stdin:1", "-"],
        b"FROM busybox\nRUN echo from-stdin > /s\n",
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(run_in(&bay, "stdin:1", "cat /s"), "from-stdin\n");
    // `-f -`: the Dockerfile on stdin, a directory as context.
    let dir = ctx(&[("f.txt", "ctx-file\n")]);
    let o = bay.run_stdin(
        &[
            "build",
            "-f",
            "-",
            "-t=stdinf:1",
            dir.path().to_str().unwrap(),
        ],
        b"FROM busybox\nCOPY f.txt /\n",
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(run_in(&bay, "stdinf:1", "cat /f.txt"), "ctx-file\n");
    // No context: COPY finds nothing, as `cat Dockerfile | docker build -`.
    let o = bay.run_stdin(&["build", "-"], b"FROM busybox\nCOPY index.html /\n");
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "COPY failed: file not found in build context or excluded by .dockerignore: stat index.html: file does not exist\n"
    );
    let c = ctx(&[
        ("Dockerfile", "FROM busybox\nCOPY index.html /\n"),
        ("index.html", "in-tar\n"),
    ]);
    for (flag, name) in [
        ("-czf", "c.tar.gz"),
        ("-cjf", "c.tar.bz2"),
        ("-cJf", "c.tar.xz"),
    ] {
        let t = TempDir::new("build-tar");
        let tar = t.path().join(name);
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(c.path())
                .arg(flag)
                .arg(&tar)
                .arg("."),
        );
        let o = bay.run_stdin(
            &["build", "-t", "tarctx:1", "-"],
            &std::fs::read(&tar).unwrap(),
        );
        assert_eq!(o.code, 0, "{name}: {}{}", o.stdout, o.stderr);
        assert_eq!(run_in(&bay, "tarctx:1", "cat /index.html"), "in-tar\n");
    }
    assert_nothing_left(&bay);
}

#[test]
fn add_extracts_local_archives_and_downloads_urls() {
    let bay = CtrBay::new();
    let src = TempDir::new("build-add-src");
    write(src.path(), "pkg/file", "packed\n");
    let c = ctx(&[(
        "Dockerfile",
        "FROM busybox\nADD a.tar.gz /gz/\nADD a.tar.bz2 /bz/\nADD a.tar.xz /xz\nADD plain.txt /p.txt\n",
    )]);
    for (flag, name) in [
        ("-czf", "a.tar.gz"),
        ("-cjf", "a.tar.bz2"),
        ("-cJf", "a.tar.xz"),
    ] {
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(src.path())
                .arg(flag)
                .arg(c.path().join(name))
                .arg("pkg"),
        );
    }
    write(c.path(), "plain.txt", "plain\n");
    build_ok(&bay, &["-t", "add:1"], c.path());
    assert_eq!(
        run_in(
            &bay,
            "add:1",
            "cat /gz/pkg/file /bz/pkg/file /xz/pkg/file /p.txt"
        ),
        "packed\npacked\npacked\nplain\n"
    );
    // URLs: fetched from a loopback server, mode 0600, not extracted; a 404 fails.
    let port = serve_http(b"downloaded\n");
    let u = ctx(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD http://127.0.0.1:{port}/files/got.txt /dl/\nADD http://127.0.0.1:{port}/files/a.tar.gz /raw.tgz\n"
        ),
    )]);
    build_ok(&bay, &["-t", "url:1"], u.path());
    assert_eq!(
        run_in(
            &bay,
            "url:1",
            "cat /dl/got.txt; stat -c %a /dl/got.txt; cat /raw.tgz"
        ),
        "downloaded\n600\ndownloaded\n"
    );
    let missing = ctx(&[(
        "Dockerfile",
        &format!("FROM busybox\nADD http://127.0.0.1:{port}/missing /x\n"),
    )]);
    let o = build(&bay, &[], missing.path());
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        format!(
            "ADD failed: failed to GET http://127.0.0.1:{port}/missing with status 404 Not Found\n"
        )
    );
    assert_nothing_left(&bay);
}

#[test]
fn onbuild_triggers_run_in_the_child_only() {
    let bay = CtrBay::new();
    let a = ctx(&[("Dockerfile", "FROM busybox\nONBUILD RUN mkdir /mydir\n")]);
    build_ok(&bay, &["-t", "imagea"], a.path());
    let b = ctx(&[("Dockerfile", "FROM imagea\nCMD [\"sh\"]\n")]);
    let out = build_ok(&bay, &["-t", "imageb"], b.path());
    assert!(
        out.contains("Step 1/2 : FROM imagea\n# Executing 1 build trigger\n ---> Running in "),
        "{out}"
    );
    let g = ctx(&[("Dockerfile", "FROM imageb\nCMD [\"sh\"]\n")]);
    let out = build_ok(&bay, &["-t", "imagec"], g.path());
    assert!(!out.contains("build trigger"), "{out}");
    assert_eq!(
        run_in(&bay, "imagea", "ls -d /mydir 2>/dev/null || echo none"),
        "none\n"
    );
    assert_eq!(run_in(&bay, "imageb", "ls -d /mydir"), "/mydir\n");
    assert_eq!(config(&bay, "imageb")["OnBuild"], serde_json::Value::Null);
    assert_nothing_left(&bay);
}

#[test]
fn quiet_prints_only_the_id_and_iidfile_is_written() {
    let bay = CtrBay::new();
    let c = ctx(&[("Dockerfile", "FROM busybox\nRUN echo noisy\n")]);
    let iid = c.path().join("iid");
    let out = build_ok(&bay, &["-q", "--iidfile", iid.to_str().unwrap()], c.path());
    assert!(
        out.starts_with("sha256:") && out.trim().len() == 71,
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), out.trim());
    assert_nothing_left(&bay);
}

#[test]
fn dockerfile_outside_the_context_with_f() {
    let bay = CtrBay::new();
    let files = ctx(&[("nginx_01", "FROM busybox\nCOPY index.html /www/\n")]);
    let c = ctx(&[("index.html", "f-flag\n")]);
    let df = files.path().join("nginx_01");
    build_ok(&bay, &["-f", df.to_str().unwrap(), "-t", "f:1"], c.path());
    assert_eq!(run_in(&bay, "f:1", "cat /www/index.html"), "f-flag\n");
    assert_nothing_left(&bay);
}

#[test]
fn missing_dockerfile_fails() {
    let bay = CtrBay::new();
    let c = ctx(&[]);
    let o = build(&bay, &[], c.path());
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        format!(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}/Dockerfile: no such file or directory\n",
            c.path().display()
        )
    );
    assert_nothing_left(&bay);
}

#[test]
fn unknown_instruction_names_the_line() {
    let bay = CtrBay::new();
    let c = ctx(&[("Dockerfile", "FROM busybox\n# comment\nFOO bar\n")]);
    let o = build(&bay, &[], c.path());
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "Error response from daemon: dockerfile parse error on line 3: unknown instruction: FOO\n"
    );
    assert_nothing_left(&bay);
}

#[test]
fn failing_run_reports_dockers_message_and_leaves_nothing() {
    let bay = CtrBay::new();
    let c = ctx(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo before && false\nRUN echo never\n",
    )]);
    let o = build(&bay, &["-t", "bad:1"], c.path());
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "The command '/bin/sh -c echo before && false' returned a non-zero code: 1\n"
    );
    assert!(
        o.stdout.contains("before\n") && !o.stdout.contains("never"),
        "{}",
        o.stdout
    );
    assert!(bay.run(&["image", "inspect", "bad:1"]).code != 0);
    let exec = ctx(&[(
        "Dockerfile",
        "FROM busybox\nRUN [\"sh\", \"-c\", \"exit 3\"]\n",
    )]);
    let o = build(&bay, &[], exec.path());
    assert_eq!(
        o.stderr,
        "The command 'sh -c exit 3' returned a non-zero code: 3\n"
    );
    assert_nothing_left(&bay);
}

#[test]
fn copy_of_a_missing_file_fails() {
    let bay = CtrBay::new();
    let c = ctx(&[("Dockerfile", "FROM busybox\nCOPY nope.txt /\n")]);
    let o = build(&bay, &[], c.path());
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "COPY failed: file not found in build context or excluded by .dockerignore: stat nope.txt: file does not exist\n"
    );
    let w = ctx(&[("Dockerfile", "FROM busybox\nCOPY *.none /\n")]);
    let o = build(&bay, &[], w.path());
    assert_eq!(o.stderr, "COPY failed: no source files were specified\n");
    assert_nothing_left(&bay);
}

#[test]
fn paths_outside_the_context_are_refused() {
    let bay = CtrBay::new();
    let c = ctx(&[("Dockerfile", "FROM busybox\nCOPY ../etc/passwd /\n")]);
    let o = build(&bay, &[], c.path());
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "COPY failed: forbidden path outside the build context: ../etc/passwd ()\n"
    );
    // A symlink in the context is followed inside the context only, never to the host.
    let l = ctx(&[("Dockerfile", "FROM busybox\nCOPY hostetc/passwd /x\n")]);
    std::os::unix::fs::symlink("/etc", l.path().join("hostetc")).unwrap();
    let o = build(&bay, &[], l.path());
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "COPY failed: file not found in build context or excluded by .dockerignore: stat hostetc/passwd: file does not exist\n"
    );
    assert_nothing_left(&bay);
}

#[test]
fn remote_contexts_and_heredocs_fail_clearly() {
    let bay = CtrBay::new();
    let o = bay.run(&["build", "https://github.com/x/y.git#:11.1"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("not supported yet"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1);
    let p = ctx(&[("Dockerfile", "FROM --platform=linux/s390x busybox\n")]);
    let o = build(&bay, &[], p.path());
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .starts_with("FROM --platform=linux/s390x: only the host platform"),
        "{}",
        o.stderr
    );
    let c = ctx(&[("Dockerfile", "FROM busybox\nRUN <<EOF\necho hi\nEOF\n")]);
    let o = build(&bay, &[], c.path());
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("dockerfile parse error on line 2: heredocs are not supported"),
        "{}",
        o.stderr
    );
    assert_nothing_left(&bay);
}

/// A private dockerd (own data root and socket, vfs, no networking setup); None when
/// dockerd is not installed, then the interop test skips.
struct Dockerd {
    dir: TempDir,
    child: std::process::Child,
}

impl Dockerd {
    fn start() -> Option<Dockerd> {
        const DOCKERD: &str = "/usr/sbin/dockerd";
        if !Path::new(DOCKERD).exists() {
            eprintln!("skipping: {DOCKERD} not installed");
            return None;
        }
        let dir = TempDir::new("build-dockerd");
        let p = dir.path();
        let child = Command::new(DOCKERD)
            .arg("--data-root")
            .arg(p.join("data"))
            .arg("--exec-root")
            .arg(p.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", p.join("docker.sock").display()))
            .arg("--pidfile")
            .arg(p.join("docker.pid"))
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver",
                "vfs",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(p.join("dockerd.log")).unwrap())
            .spawn()
            .expect("starting dockerd");
        let d = Dockerd { dir, child };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !d
            .docker()
            .arg("version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "dockerd did not start: see {}",
                d.dir.path().join("dockerd.log").display()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Some(d)
    }

    fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.arg("-H").arg(format!(
            "unix://{}",
            self.dir.path().join("docker.sock").display()
        ));
        c
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: signalling our own unreaped child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn built_image_saved_by_bay_loads_and_runs_in_docker() {
    let bay = CtrBay::new();
    let c = ctx(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN echo built > /built && rm /etc/extra\nCOPY index.html /www/\nCMD [\"sh\", \"-c\", \"cat /built /www/index.html; ls /etc/extra 2>&1 || true\"]\n",
        ),
        ("index.html", "to docker\n"),
    ]);
    let out = build_ok(&bay, &["-t", "tod:1"], c.path());
    let id = built_id(&out);
    let Some(d) = Dockerd::start() else { return };
    let tar = c.path().join("img.tar");
    bay.ok(&["save", "-o", tar.to_str().unwrap(), "tod:1"]);
    let loaded = run_ok(d.docker().args(["load", "-i", tar.to_str().unwrap()]));
    assert_eq!(loaded, "Loaded image: tod:1\n");
    let did = run_ok(d.docker().args(["inspect", "-f", "{{.Id}}", "tod:1"]));
    assert!(did.starts_with(&format!("sha256:{id}")), "{did} vs {id}");
    let ran = run_ok(
        d.docker()
            .args(["run", "--rm", "--network", "none", "tod:1"]),
    );
    assert_eq!(
        ran,
        "built\nto docker\nls: /etc/extra: No such file or directory\n"
    );
    assert_nothing_left(&bay);
}

#[test]
fn from_scratch_with_an_added_rootfs_tarball_runs() {
    let bay = CtrBay::new();
    let (_keep, tar) = bay_common::busybox_tar("scratch");
    let c = ctx(&[(
        "Dockerfile",
        "FROM scratch\nADD rootfs.tar.gz /\nCMD [\"sh\", \"-c\", \"cat /etc/extra\"]\n",
    )]);
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -c {} > rootfs.tar.gz", tar.display()))
            .current_dir(c.path()),
    );
    let out = build_ok(&bay, &["-t", "fromscratch:1"], c.path());
    assert!(
        out.contains("Step 1/3 : FROM scratch\n ---> \nStep 2/3 : ADD rootfs.tar.gz /\n"),
        "{out}"
    );
    assert_eq!(
        bay.ok(&["run", "--rm", "--network", "none", "fromscratch:1"]),
        "scratch"
    );
    let layers = bay.ok(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}}",
        "fromscratch:1",
    ]);
    assert_eq!(layers.trim(), "1");
    assert_nothing_left(&bay);
}

/// A loopback HTTP server answering `body` for paths under /files/ and 404 otherwise, for
/// as long as the test runs.
fn serve_http(body: &'static [u8]) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("");
            let mut c = conn;
            if path.starts_with("/files/") {
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(body);
            } else {
                let _ = write!(
                    c,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        }
    });
    port
}

/// The files under a layer's unpacked snapshot, relative, sorted.
fn layer_files(bay: &CtrBay, image: &str, index_from_top: usize) -> Vec<String> {
    let out = bay.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", image]);
    let layers: Vec<String> = serde_json::from_str(&out).unwrap();
    let diff = &layers[layers.len() - 1 - index_from_top];
    let dir = bay
        .root()
        .join("snapshots")
        .join(diff.trim_start_matches("sha256:"));
    let out = run_ok(Command::new("find").arg(".").current_dir(&dir));
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| *l != ".")
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn run_network_host_by_default_none_isolates_and_mountpoints_stay_out_of_layers() {
    let bay = CtrBay::new();
    let c = ctx(&[(
        "Dockerfile",
        "FROM busybox\nRUN ls /sys/class/net | wc -l > /n && test -e /etc/hosts && echo hosts-seen\n",
    )]);
    let out = build_ok(&bay, &["-t", "net:host"], c.path());
    assert!(out.contains("hosts-seen"), "{out}");
    assert_eq!(layer_files(&bay, "net:host", 0), ["./n"]);
    // The host's interfaces (more than lo; their number changes as other tests run).
    let n: usize = run_in(&bay, "net:host", "cat /n").trim().parse().unwrap();
    assert!(n > 1, "{n}");
    let c2 = ctx(&[("Dockerfile", "FROM busybox\nRUN ls /sys/class/net > /n\n")]);
    build_ok(&bay, &["--network", "none", "-t", "net:none"], c2.path());
    assert_eq!(run_in(&bay, "net:none", "cat /n"), "lo\n");
    assert_eq!(layer_files(&bay, "net:none", 0), ["./n"]);
    assert_nothing_left(&bay);
}

#[test]
fn interrupted_build_kills_the_step_and_leaves_nothing() {
    use std::io::{BufRead, BufReader};
    let bay = CtrBay::new();
    let c = ctx(&[("Dockerfile", "FROM busybox\nRUN echo started && sleep 60\n")]);
    let mut child = bay
        .command()
        .args(["build", c.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for l in lines.by_ref() {
        if l.unwrap() == "started" {
            break;
        }
    }
    let start = std::time::Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let st = child.wait().unwrap();
    assert!(!st.success());
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(err, "build interrupted\n");
    assert_nothing_left(&bay);
}

#[test]
fn from_an_image_not_present_pulls_it() {
    let reg = bay_common::Registry::start();
    let pusher = CtrBay::new();
    let name = format!("{}/library/base:1", reg.host());
    pusher.ok(&["tag", "busybox", &name]);
    pusher.ok(&["push", &name]);
    let bay = CtrBay::new();
    let c = ctx(&[(
        "Dockerfile",
        &format!("FROM {name}\nRUN echo on-pulled > /p\n"),
    )]);
    let out = build_ok(&bay, &["-t", "pulled:1"], c.path());
    assert!(out.contains("1: Pulling from library/base"), "{out}");
    assert_eq!(run_in(&bay, "pulled:1", "cat /p"), "on-pulled\n");
    assert!(bay.ok(&["images", "-q", &name]).trim().len() == 12);
    assert_nothing_left(&bay);
}
