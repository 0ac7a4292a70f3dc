//! bay's local image commands end to end: import, images, tag, rmi, inspect, history, save,
//! load, prune, system df, and the layer unpacker's safety rules.

mod bay_common;

use bay_common::{busybox_tar, run_ok, Bay, TempDir};
use std::os::unix::fs::MetadataExt;
use std::process::Command;

#[test]
fn import_lists_image_in_docker_table_and_formats() {
    let bay = Bay::new();
    let id = bay.import_busybox("busybox:1.36", "a");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let out = bay.ok(&["images"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{header:?}"
    );
    assert!(header.ends_with("SIZE"));
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[0], "busybox");
    assert_eq!(row[1], "1.36");
    assert_eq!(row[2], &id[7..19]);
    assert!(row.last().unwrap().ends_with("MB"), "{row:?}");
    assert_eq!(bay.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert_eq!(bay.ok(&["image", "ls", "-q", "--no-trunc"]).trim(), id);
    assert_eq!(
        bay.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "busybox:1.36"
    );
    let t = bay.ok(&["images", "--format", "table {{.ID}}\\t{{.Tag}}"]);
    assert_eq!(t, format!("IMAGE ID       TAG\n{}   1.36\n", &id[7..19]));
    let j: serde_json::Value =
        serde_json::from_str(bay.ok(&["images", "--format", "{{json .}}"]).trim()).unwrap();
    assert_eq!(j["Repository"], "busybox");
    assert_eq!(j["Digest"], "<none>");
    assert!(bay
        .ok(&["images", "--digests"])
        .lines()
        .next()
        .unwrap()
        .contains("DIGEST"));
    // by short ID prefix everywhere
    assert!(bay.ok(&["history", &id[7..11]]).starts_with("IMAGE "));
}

#[test]
fn rmi_untags_names_and_deletes_by_id_like_docker() {
    let bay = Bay::new();
    let id = bay.import_busybox("busybox:1", "a");
    bay.ok(&["tag", "busybox:1", "me/bb"]);
    bay.ok(&["tag", &id[7..15], "127.0.0.1:5000/bb:x"]);
    assert_eq!(
        bay.ok(&["images", "-q"]).lines().count(),
        1,
        "one image, three names"
    );
    assert_eq!(bay.ok(&["images"]).lines().count(), 4);

    assert_eq!(bay.ok(&["rmi", "me/bb"]), "Untagged: me/bb:latest\n");
    let o = bay.fails(&["rmi", &id[7..19]]);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr.trim(),
        format!("Error response from daemon: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", &id[7..19])
    );
    let out = bay.ok(&["rmi", "-f", &id[7..19]]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"Untagged: busybox:1") && lines.contains(&"Untagged: 127.0.0.1:5000/bb:x"),
        "{out}"
    );
    assert_eq!(lines[2], format!("Deleted: {id}"));
    assert_eq!(lines.len(), 4, "image and its one layer: {out}");
    assert_eq!(bay.ok(&["images", "-q"]), "");
    assert!(bay.snapshots().is_empty(), "layer snapshot removed");
    assert!(bay.blobs().is_empty(), "blobs removed: {:?}", bay.blobs());

    let o = bay.fails(&["rmi", "nope"]);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: No such image: nope:latest"
    );
}

#[test]
fn removing_the_last_tag_deletes_the_image() {
    let bay = Bay::new();
    let id = bay.import_busybox("x:1", "a");
    let out = bay.ok(&["image", "rm", "x:1"]);
    assert!(
        out.starts_with(&format!("Untagged: x:1\nDeleted: {id}\nDeleted: sha256:")),
        "{out}"
    );
}

#[test]
fn save_then_load_keeps_the_image_id() {
    let bay = Bay::new();
    let id = bay.import_busybox("busybox:1", "a");
    let dir = TempDir::new("save");
    let tar = dir.path().join("bb.tar");
    bay.ok(&["save", "-o", tar.to_str().unwrap(), "busybox:1"]);
    let listing = run_ok(Command::new("tar").arg("tf").arg(&tar));
    for f in ["manifest.json", "index.json", "oci-layout"] {
        assert!(listing.lines().any(|l| l == f), "{f} missing: {listing}");
    }
    bay.ok(&["rmi", "busybox:1"]);
    assert_eq!(
        bay.ok(&["load", "-i", tar.to_str().unwrap()]),
        "Loaded image: busybox:1\n"
    );
    assert_eq!(
        bay.ok(&["inspect", "-f", "{{.Id}}", "busybox:1"]).trim(),
        id
    );

    // saved by ID: loads untagged, same ID, via stdin
    let by_id = dir.path().join("id.tar");
    let o = bay.command().args(["save", &id[7..19]]).output().unwrap();
    assert!(o.status.success());
    std::fs::write(&by_id, &o.stdout).unwrap();
    let other = Bay::new();
    assert_eq!(
        other.run_stdin(&["load"], &o.stdout).stdout,
        format!("Loaded image ID: {id}\n")
    );
    let row = other.ok(&["images"]);
    assert!(
        row.lines()
            .nth(1)
            .unwrap()
            .starts_with("<none>       <none>    "),
        "{row}"
    );
    assert_eq!(
        other.ok(&["images", "-f", "dangling=true", "-q"]).trim(),
        &id[7..19]
    );
}

#[test]
fn save_refuses_a_terminal_and_missing_images() {
    let bay = Bay::new();
    let o = bay.fails(&["save", "-o", "/tmp/bay-never-written.tar", "nope"]);
    assert!(
        o.stderr.contains("No such image: nope:latest"),
        "{}",
        o.stderr
    );
    assert!(!std::path::Path::new("/tmp/bay-never-written.tar").exists());
}

#[test]
fn load_accepts_an_oci_archive_from_skopeo() {
    let bay = Bay::new();
    let id = bay.import_busybox("busybox:1", "a");
    let dir = TempDir::new("oci");
    let tar = dir.path().join("d.tar");
    bay.ok(&["save", "-o", tar.to_str().unwrap(), "busybox:1"]);
    let oci = dir.path().join("o.tar");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("docker-archive:{}", tar.display()))
            .arg(format!("oci-archive:{}:example.com/app:2", oci.display())),
    );
    let other = Bay::new();
    assert_eq!(
        other.ok(&["load", "-i", oci.to_str().unwrap()]),
        "Loaded image: example.com/app:2\n"
    );
    // skopeo rewrites the config into OCI form; the image ID is that config's digest
    let raw = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci-archive:{}:example.com/app:2", oci.display())),
    );
    let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        other
            .ok(&["inspect", "--format", "{{.Id}}", "example.com/app:2"])
            .trim(),
        m["config"]["digest"].as_str().unwrap()
    );
    assert_ne!(id, "");
}

#[test]
fn load_rejects_garbage_and_leaves_nothing() {
    let bay = Bay::new();
    let o = bay.run_stdin(
        &["load"],
        b"this is not a tar archive at all, not even close.................",
    );
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.starts_with("Error response from daemon: "),
        "{}",
        o.stderr
    );
    assert!(bay.tmp_entries().is_empty());
    assert_eq!(bay.ok(&["images", "-q"]), "");
}

#[test]
fn import_applies_changes_message_and_reads_stdin() {
    let bay = Bay::new();
    let (_d, tar) = busybox_tar("a");
    let gzip_bytes = Command::new("gzip")
        .arg("-c")
        .arg(&tar)
        .output()
        .unwrap()
        .stdout;
    let o = bay.run_stdin(
        &[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            "-c",
            "ENV A=b",
            "-c",
            "EXPOSE 80",
            "-c",
            "LABEL k=v",
            "-m",
            "hello",
            "-",
            "me/imp:1",
        ],
        &gzip_bytes,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        bay.ok(&[
            "inspect",
            "-f",
            "{{json .Config.Cmd}} {{json .Config.Env}} {{.Comment}}",
            "me/imp:1"
        ])
        .trim(),
        "[\"/bin/sh\"] [\"A=b\"] hello"
    );
    assert_eq!(
        bay.ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"k\"}} {{json .Config.ExposedPorts}}",
            "me/imp:1"
        ])
        .trim(),
        "v {\"80/tcp\":{}}"
    );
    assert_eq!(
        bay.ok(&["images", "-f", "label=k=v", "--format", "{{.Repository}}"])
            .trim(),
        "me/imp"
    );
    assert_eq!(bay.ok(&["images", "-f", "label=k=w", "-q"]), "");
    let h = bay.ok(&["history", "me/imp:1"]);
    assert!(h.starts_with("IMAGE          CREATED"), "{h}");
    assert!(h.lines().nth(1).unwrap().ends_with("hello"), "{h}");
    let o = bay.fails(&["import", "-c", "BOGUS x", tar.to_str().unwrap()]);
    assert!(
        o.stderr.contains("BOGUS is not a valid change command"),
        "{}",
        o.stderr
    );
}

#[test]
fn inspect_prints_docker_json_and_errors_for_missing() {
    let bay = Bay::new();
    let id = bay.import_busybox("busybox:1", "a");
    let out = bay.ok(&["image", "inspect", "busybox:1"]);
    assert!(out.starts_with("[\n    {\n        \"Id\": \""), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["RepoTags"][0], "busybox:1");
    assert_eq!(v[0]["Os"], "linux");
    assert_eq!(v[0]["RootFS"]["Type"], "layers");
    let o = bay.run(&["inspect", "busybox:1", "nope"]);
    assert_eq!(o.code, 1);
    assert_eq!(o.stderr.trim(), "Error: No such object: nope");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let o = bay.run(&["image", "inspect", "nope"]);
    assert_eq!(
        (o.code, o.stdout.trim(), o.stderr.trim()),
        (1, "[]", "Error: No such image: nope")
    );
}

#[test]
fn filters_and_prune_handle_dangling_images() {
    let bay = Bay::new();
    let old = bay.import_busybox("app:1", "old");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let new = bay.import_busybox("app:1", "new");
    bay.ok(&["tag", "app:1", "other:2"]);
    assert_eq!(
        bay.ok(&["images", "-f", "dangling=true", "-q"]).trim(),
        &old[7..19]
    );
    assert_eq!(
        bay.ok(&[
            "images",
            "-f",
            "reference=app",
            "--format",
            "{{.Repository}}:{{.Tag}}"
        ])
        .trim(),
        "app:1"
    );
    assert_eq!(
        bay.ok(&["images", "other", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "other:2"
    );
    assert_eq!(
        bay.ok(&["images", "-f", "before=app:1", "-q"]).trim(),
        &old[7..19]
    );
    assert_eq!(
        bay.fails(&["images", "-f", "since"]).stderr.trim(),
        "Error: bad format of filter (expected name=value)"
    );
    let o = bay.fails(&["images", "-f", "color=red"]);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: invalid filter 'color'"
    );
    let out = bay.ok(&["image", "prune", "-f"]);
    assert!(
        out.starts_with(&format!("Deleted Images:\ndeleted: {old}\n")),
        "{out}"
    );
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("Total reclaimed space: "),
        "{out}"
    );
    assert_eq!(bay.ok(&["images", "-q"]).trim(), &new[7..19]);
    assert_eq!(
        bay.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    let df = bay.ok(&["system", "df"]);
    assert!(df.starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\nImages          1         0         "), "{df}");
    let out = bay.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        out.contains("untagged: app:1") && out.contains("untagged: other:2"),
        "{out}"
    );
    assert_eq!(bay.ok(&["images", "-q"]), "");
}

#[test]
fn bad_names_and_flags_fail_like_docker() {
    let bay = Bay::new();
    bay.import_busybox("a:1", "a");
    let o = bay.fails(&["tag", "a:1", "bad name"]);
    assert_eq!(o.stderr.trim(), "Error: Error parsing reference: \"bad name\" is not a valid repository/tag: invalid reference format");
    let o = bay.fails(&["tag", "a:1", "UPPER"]);
    assert!(
        o.stderr
            .contains("repository name (library/UPPER) must be lowercase"),
        "{}",
        o.stderr
    );
    let o = bay.fails(&["images", "--bogus"]);
    assert_eq!(o.code, 125);
    let o = bay.fails(&["images", "--format", "{{.Nope}}"]);
    assert!(
        o.stderr.contains("can't evaluate field Nope"),
        "{}",
        o.stderr
    );
}

/// Writes a tar with python's tarfile (GNU tar will not write hostile names).
fn python_tar(dir: &TempDir, script: &str) -> std::path::PathBuf {
    let tar = dir.path().join("layer.tar");
    let prog = format!("import tarfile, io\nt = tarfile.open({:?}, 'w', format=tarfile.PAX_FORMAT)\n\ndef f(name, data=b'x', **kw):\n    i = tarfile.TarInfo(name); i.size = len(data)\n    for k, v in kw.items(): setattr(i, k, v)\n    t.addfile(i, io.BytesIO(data))\n\ndef e(name, **kw):\n    i = tarfile.TarInfo(name)\n    for k, v in kw.items(): setattr(i, k, v)\n    t.addfile(i)\n\n{script}\nt.close()\n", tar.display().to_string());
    run_ok(Command::new("python3").arg("-c").arg(prog));
    tar
}

#[test]
fn layer_with_dotdot_path_is_refused_and_nothing_is_kept() {
    let bay = Bay::new();
    let dir = TempDir::new("evil");
    let marker = format!("bay-escape-{}", std::process::id());
    let tar = python_tar(
        &dir,
        &format!("f('ok')\nf('../../../../../../tmp/{marker}')"),
    );
    let o = bay.fails(&["import", tar.to_str().unwrap(), "evil:1"]);
    assert!(
        o.stderr.contains("invalid layer entry") && o.stderr.contains("\"..\""),
        "{}",
        o.stderr
    );
    assert!(!std::path::Path::new("/tmp").join(&marker).exists());
    assert!(bay.tmp_entries().is_empty(), "{:?}", bay.tmp_entries());
    assert!(bay.snapshots().is_empty());
    assert_eq!(bay.ok(&["images", "-q"]), "");
}

#[test]
fn layer_writing_through_an_absolute_symlink_is_refused() {
    let bay = Bay::new();
    let dir = TempDir::new("evil");
    let target = TempDir::new("victim");
    let tar = python_tar(
        &dir,
        &format!(
            "e('evil', type=tarfile.SYMTYPE, linkname={:?})\nf('evil/pwned')",
            target.path().display().to_string()
        ),
    );
    let o = bay.fails(&["import", tar.to_str().unwrap()]);
    assert!(
        o.stderr.contains("path goes through a symlink"),
        "{}",
        o.stderr
    );
    assert!(!target.path().join("pwned").exists());
    let tar = python_tar(&dir, &format!("e('evil', type=tarfile.SYMTYPE, linkname={:?})\ne('link', type=tarfile.LNKTYPE, linkname='evil/x')", target.path().display().to_string()));
    let o = bay.fails(&["import", tar.to_str().unwrap()]);
    assert!(o.stderr.contains("invalid layer entry"), "{}", o.stderr);
    assert!(bay.tmp_entries().is_empty());
}

#[test]
fn layer_whiteouts_ownership_links_devices_and_xattrs_are_unpacked_for_overlayfs() {
    let bay = Bay::new();
    let dir = TempDir::new("layer");
    let tar = python_tar(
        &dir,
        "e('d', type=tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1000)\n\
         f('d/.wh..wh..opq', b'')\n\
         f('.wh.gone', b'')\n\
         f('d/file', b'hello', uid=1234, gid=5678, mode=0o4755, pax_headers={'SCHILY.xattr.user.bay': 'yes'})\n\
         e('d/hard', type=tarfile.LNKTYPE, linkname='d/file')\n\
         e('null', type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)\n\
         e('abs', type=tarfile.SYMTYPE, linkname='/etc/passwd')",
    );
    bay.ok(&["import", tar.to_str().unwrap(), "layer:1"]);
    let snap = std::path::PathBuf::from(
        bay.ok(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "layer:1"])
            .trim(),
    );
    let md = |p: &str| std::fs::symlink_metadata(snap.join(p)).unwrap();
    let file = md("d/file");
    assert_eq!(
        (file.uid(), file.gid(), file.mode() & 0o7777),
        (1234, 5678, 0o4755)
    );
    assert_eq!(md("d/hard").ino(), file.ino(), "hard link shares the inode");
    assert_eq!((md("d").uid(), md("d").mode() & 0o7777), (1000, 0o750));
    let gone = md("gone");
    assert_eq!(
        (gone.mode() & libc::S_IFMT, gone.rdev()),
        (libc::S_IFCHR, 0),
        "whiteout is a 0:0 char device"
    );
    let null = md("null");
    assert_eq!(
        (null.mode() & libc::S_IFMT, null.rdev()),
        (libc::S_IFCHR, libc::makedev(1, 3))
    );
    assert_eq!(
        std::fs::read_link(snap.join("abs")).unwrap(),
        std::path::PathBuf::from("/etc/passwd")
    );
    assert_eq!(
        xattr(&snap.join("d"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert_eq!(
        xattr(&snap.join("d/file"), "user.bay"),
        Some(b"yes".to_vec())
    );
}

fn xattr(p: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let cp = std::ffi::CString::new(p.to_str()?).ok()?;
    let cn = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: valid NUL-terminated strings and a buffer of the length passed.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

#[test]
fn import_from_a_url_fetches_the_tarball() {
    use std::io::{Read, Write};
    let (_d, tar) = busybox_tar("from url");
    let body = std::fs::read(&tar).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut req = [0u8; 4096];
        let _ = conn.read(&mut req);
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(&body);
    });
    let bay = Bay::new();
    let url = format!("http://127.0.0.1:{port}/rootfs.tar");
    let id = bay.ok(&["import", &url, "fromurl:1"]);
    server.join().unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        bay.ok(&["inspect", "-f", "{{.Comment}}", "fromurl:1"])
            .trim(),
        format!("Imported from {url}")
    );
    let o = bay.fails(&[
        "import",
        &format!("http://127.0.0.1:{}/nothing.tar", bay_common::free_port()),
    ]);
    assert!(
        o.stderr.contains("connection refused") || o.stderr.contains("Connection refused"),
        "{}",
        o.stderr
    );
}

#[test]
fn prune_filters_spare_by_label_and_age() {
    let bay = Bay::new();
    let (_d, tar) = busybox_tar("keep me");
    bay.ok(&[
        "import",
        "-c",
        "LABEL keep=yes",
        tar.to_str().unwrap(),
        "kept:1",
    ]);
    let other = bay.import_busybox("gone:1", "prune me");
    assert_eq!(
        bay.ok(&["image", "prune", "-a", "-f", "--filter", "until=1h"]),
        "Total reclaimed space: 0B\n",
        "both are newer than an hour"
    );
    let out = bay.ok(&["image", "prune", "-a", "-f", "--filter", "label!=keep=yes"]);
    assert!(
        out.starts_with(&format!(
            "Deleted Images:\nuntagged: gone:1\ndeleted: {other}\n"
        )),
        "{out}"
    );
    assert_eq!(bay.ok(&["images", "--format", "{{.Repository}}"]), "kept\n");
    let o = bay.fails(&["image", "prune", "-f", "--filter", "color=red"]);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: invalid filter 'color'"
    );
    let o = bay.fails(&["image", "prune", "-f", "--filter", "until=soon"]);
    assert_eq!(
        o.stderr.trim(),
        "Error response from daemon: invalid filter 'until=soon'"
    );
}
