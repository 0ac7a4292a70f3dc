//! bay against a real Debian `docker-registry` on loopback: push/pull round trips checked
//! with skopeo, multi-arch indexes, zstd layers, chunked uploads, cross-repository mounts,
//! corrupted blobs and concurrent pulls.

mod bay_common;

use bay_common::{run_ok, sha256_file, skopeo_digest, Bay, Registry, TempDir};
use std::path::Path;
use std::process::Command;

const NO_TLS: &[&str] = &["--tls-verify=false"];

fn digest_line(push_out: &str) -> String {
    let last = push_out.lines().last().unwrap();
    let d = last
        .split("digest: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    d.to_string()
}

/// A docker-archive of a fresh busybox image, via bay save.
fn archive(bay: &Bay, name: &str, extra: &str, dir: &TempDir) -> std::path::PathBuf {
    bay.import_busybox(name, extra);
    let tar = dir
        .path()
        .join(format!("{}.tar", name.replace(['/', ':'], "_")));
    bay.ok(&["save", "-o", tar.to_str().unwrap(), name]);
    tar
}

#[test]
fn push_then_pull_round_trip_matches_skopeo_digest() {
    let reg = Registry::start();
    let bay = Bay::new();
    let id = bay.import_busybox("busybox:1", "round-trip");
    let name = format!("{}/library/busybox:1", reg.host());
    bay.ok(&["tag", "busybox:1", &name]);
    let out = bay.ok(&["push", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "The push refers to repository [{}/library/busybox]",
            reg.host()
        )
    );
    assert!(
        lines[1].ends_with(": Preparing") && lines[2].ends_with(": Pushed"),
        "{out}"
    );
    let digest = digest_line(&out);
    assert!(
        lines[3].starts_with("1: digest: sha256:") && lines[3].contains(" size: "),
        "{out}"
    );
    assert_eq!(skopeo_digest(&name, NO_TLS), digest);

    let fresh = Bay::new();
    let out = fresh.ok(&["pull", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1: Pulling from library/busybox");
    assert!(lines[1].ends_with(": Pulling fs layer"), "{out}");
    assert!(
        lines.iter().any(|l| l.ends_with(": Pull complete")),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "Digest: {digest}\nStatus: Downloaded newer image for {name}\n{name}\n"
        )),
        "{out}"
    );
    assert_eq!(
        fresh
            .ok(&["inspect", "-f", "{{.Id}} {{index .RepoDigests 0}}", &name])
            .trim(),
        format!("{id} {}/library/busybox@{digest}", reg.host())
    );
    // pulled again: up to date, no layer lines
    let again = fresh.ok(&["pull", &name]);
    assert_eq!(again, format!("1: Pulling from library/busybox\nDigest: {digest}\nStatus: Image is up to date for {name}\n{name}\n"));
    assert_eq!(fresh.ok(&["pull", "-q", &name]), format!("{name}\n"));
    // by digest
    let by_digest = format!("{}/library/busybox@{digest}", reg.host());
    let out = fresh.ok(&["pull", &by_digest]);
    assert!(out.ends_with(&format!("{by_digest}\n")), "{out}");
    assert!(fresh.tmp_entries().is_empty());
    // the pulled image pushes back with the same digest
    let copy = format!("{}/copy:1", reg.host());
    fresh.ok(&["tag", &name, &copy]);
    assert_eq!(digest_line(&fresh.ok(&["push", &copy])), digest);
}

#[test]
fn push_skips_existing_layers_and_mounts_across_repositories() {
    let reg = Registry::start();
    let bay = Bay::new();
    bay.import_busybox("app:1", "mount");
    let a = format!("{}/team/app:1", reg.host());
    let b = format!("{}/other/app:2", reg.host());
    bay.ok(&["tag", "app:1", &a]);
    bay.ok(&["tag", "app:1", &b]);
    bay.ok(&["push", &a]);
    let again = bay.ok(&["push", &a]);
    assert!(
        again
            .lines()
            .nth(2)
            .unwrap()
            .ends_with(": Layer already exists"),
        "{again}"
    );
    let out = bay.ok(&["push", &b]);
    assert!(
        out.lines()
            .nth(2)
            .unwrap()
            .ends_with(": Mounted from team/app"),
        "{out}"
    );
    assert_eq!(skopeo_digest(&b, NO_TLS), digest_line(&out));
}

#[test]
fn chunked_upload_round_trips() {
    let reg = Registry::start();
    let bay = Bay::new();
    bay.set_registries(&serde_json::json!({"upload-chunk-size": 65536}));
    bay.import_busybox("big:1", "chunks");
    let name = format!("{}/big:1", reg.host());
    bay.ok(&["tag", "big:1", &name]);
    let digest = digest_line(&bay.ok(&["push", &name]));
    assert_eq!(skopeo_digest(&name, NO_TLS), digest);
    let fresh = Bay::new();
    fresh.ok(&["pull", &name]);
    assert_eq!(
        fresh.ok(&["images", "-q"]).trim(),
        bay.ok(&["images", "-q", "big:1"]).trim()
    );
}

#[test]
fn pull_of_missing_tag_or_registry_fails_with_docker_messages() {
    let reg = Registry::start();
    let bay = Bay::new();
    let o = bay.fails(&["pull", &format!("{}/nothing:here", reg.host())]);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr.trim(),
        format!("Error response from daemon: manifest for {}/nothing:here not found: manifest unknown: manifest unknown", reg.host())
    );
    let port = bay_common::free_port();
    let o = bay.fails(&["pull", &format!("127.0.0.1:{port}/x")]);
    assert_eq!(
        o.stderr.trim(),
        format!("Error response from daemon: Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused")
    );
    let o = bay.fails(&["pull", "Upper/Case"]);
    assert!(
        o.stderr.contains("invalid reference format"),
        "{}",
        o.stderr
    );
    let o = bay.fails(&["push", &format!("{}/never:1", reg.host())]);
    assert_eq!(
        o.stderr.trim(),
        format!(
            "Error response from daemon: An image does not exist locally with the tag: {}/never",
            reg.host()
        )
    );
    assert!(bay.tmp_entries().is_empty());
    assert_eq!(bay.ok(&["images", "-q"]), "");
}

/// Writes a blob into an OCI layout; returns its digest.
fn put_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let tmp = layout.join("tmp-blob");
    std::fs::write(&tmp, bytes).unwrap();
    let d = sha256_file(&tmp);
    std::fs::rename(&tmp, layout.join("blobs/sha256").join(&d[7..])).unwrap();
    (d, bytes.len())
}

#[test]
fn pull_picks_the_platform_from_a_multi_arch_index() {
    let reg = Registry::start();
    let bay = Bay::new();
    let dir = TempDir::new("multi");
    let tar = archive(&bay, "multi:1", "amd64 image", &dir);
    let layout = dir.path().join("layout");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("docker-archive:{}", tar.display()))
            .arg(format!("oci:{}:amd", layout.display())),
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let amd_desc = index["manifests"][0].clone();
    let amd_manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(&amd_desc["digest"].as_str().unwrap()[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(&amd_manifest["config"]["digest"].as_str().unwrap()[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    config["architecture"] = "arm64".into();
    config["variant"] = "v8".into();
    let (cd, cs) = put_blob(&layout, &serde_json::to_vec(&config).unwrap());
    let mut arm_manifest = amd_manifest.clone();
    arm_manifest["config"]["digest"] = cd.clone().into();
    arm_manifest["config"]["size"] = cs.into();
    let (ad, asz) = put_blob(&layout, &serde_json::to_vec(&arm_manifest).unwrap());
    let idx = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ad, "size": asz, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd_desc["digest"], "size": amd_desc["size"], "platform": {"architecture": "amd64", "os": "linux"}},
        ]
    });
    let (id_d, id_s) = put_blob(&layout, &serde_json::to_vec(&idx).unwrap());
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id_d, "size": id_s, "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let name = format!("{}/multi:1", reg.host());
    run_ok(
        Command::new("skopeo")
            .args(["copy", "-q", "--all", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:multi", layout.display()))
            .arg(format!("docker://{name}")),
    );

    let fresh = Bay::new();
    let out = fresh.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Digest: {id_d}\n")),
        "the index digest is the repo digest: {out}"
    );
    assert_eq!(
        fresh
            .ok(&["inspect", "-f", "{{.Architecture}}", &name])
            .trim(),
        "amd64"
    );
    fresh.ok(&["pull", "--platform", "linux/arm64", &name]);
    assert_eq!(
        fresh
            .ok(&[
                "inspect",
                "-f",
                "{{.Architecture}} {{.Variant}} {{.Id}}",
                &name
            ])
            .trim(),
        format!("arm64 v8 {cd}")
    );
    let o = fresh.fails(&["pull", "--platform", "linux/s390x", &name]);
    assert_eq!(o.stderr.trim(), "Error response from daemon: no matching manifest for linux/s390x in the manifest list entries");
    let o = fresh.fails(&["pull", "--platform", "///", &name]);
    assert!(o.stderr.contains("invalid platform"), "{}", o.stderr);
}

#[test]
fn pull_of_zstd_layers_pushed_by_skopeo() {
    let reg = Registry::start();
    let bay = Bay::new();
    let dir = TempDir::new("zstd");
    let tar = archive(&bay, "z:1", "zstd", &dir);
    let name = format!("{}/z:1", reg.host());
    run_ok(
        Command::new("skopeo")
            .args([
                "copy",
                "-q",
                "--format",
                "oci",
                "--dest-compress-format",
                "zstd",
                "--dest-tls-verify=false",
            ])
            .arg(format!("docker-archive:{}", tar.display()))
            .arg(format!("docker://{name}")),
    );
    let raw = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{name}")),
    );
    assert!(raw.contains("tar+zstd"), "skopeo wrote zstd layers: {raw}");
    let fresh = Bay::new();
    let out = fresh.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Digest: {}\n", skopeo_digest(&name, NO_TLS))),
        "{out}"
    );
    let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        fresh.ok(&["inspect", "-f", "{{.Id}}", &name]).trim(),
        m["config"]["digest"].as_str().unwrap()
    );
    let snap = fresh.ok(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", &name]);
    assert_eq!(
        std::fs::read_to_string(Path::new(snap.trim()).join("etc/extra")).unwrap(),
        "zstd"
    );
    // and saves back to a docker-archive with uncompressed layers
    let out_tar = dir.path().join("back.tar");
    fresh.ok(&["save", "-o", out_tar.to_str().unwrap(), &name]);
    let other = Bay::new();
    other.ok(&["load", "-i", out_tar.to_str().unwrap()]);
    assert_eq!(
        other.ok(&["images", "-q", "--no-trunc"]).trim(),
        m["config"]["digest"].as_str().unwrap()
    );
}

#[test]
fn corrupted_blob_is_rejected_and_nothing_half_written_stays() {
    let reg = Registry::start();
    let bay = Bay::new();
    bay.import_busybox("c:1", "corrupt");
    let name = format!("{}/c:1", reg.host());
    bay.ok(&["tag", "c:1", &name]);
    bay.ok(&["push", &name]);
    let raw = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{name}")),
    );
    let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let file = reg.blob_file(layer);
    let mut data = std::fs::read(&file).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&file, &data).unwrap();
    let fresh = Bay::new();
    let o = fresh.fails(&["pull", &name]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains(&format!("digest mismatch for blob: expected {layer}")),
        "{}",
        o.stderr
    );
    assert!(fresh.tmp_entries().is_empty(), "{:?}", fresh.tmp_entries());
    assert!(fresh.snapshots().is_empty());
    assert!(!fresh.blobs().iter().any(|b| layer.ends_with(b.as_str())));
    assert_eq!(fresh.ok(&["images", "-q"]), "");
}

#[test]
fn concurrent_pulls_of_the_same_image_both_succeed() {
    let reg = Registry::start();
    let bay = Bay::new();
    bay.import_busybox("cc:1", "concurrent");
    let name = format!("{}/cc:1", reg.host());
    bay.ok(&["tag", "cc:1", &name]);
    bay.ok(&["push", &name]);
    let fresh = Bay::new();
    let children: Vec<_> = (0..3)
        .map(|_| fresh.command().args(["pull", "-q", &name]).output_async())
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(fresh.ok(&["images", "-q"]).lines().count(), 1);
    assert_eq!(fresh.snapshots().len(), 1);
    assert!(fresh.tmp_entries().is_empty());
    fresh.ok(&["rmi", &name]);
    assert!(fresh.snapshots().is_empty());
}

trait SpawnPiped {
    fn output_async(&mut self) -> std::process::Child;
}

impl SpawnPiped for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn all_tags_push_and_pull_every_tag_of_a_repository() {
    let reg = Registry::start();
    let bay = Bay::new();
    bay.import_busybox("t:1", "all tags one");
    bay.import_busybox("t:2", "all tags two");
    let repo = format!("{}/tags/t", reg.host());
    bay.ok(&["tag", "t:1", &format!("{repo}:one")]);
    bay.ok(&["tag", "t:2", &format!("{repo}:two")]);
    let out = bay.ok(&["push", "-a", &repo]);
    assert_eq!(
        out.matches("The push refers to repository").count(),
        1,
        "{out}"
    );
    assert!(
        out.contains("\none: digest: sha256:") && out.contains("\ntwo: digest: sha256:"),
        "{out}"
    );
    let fresh = Bay::new();
    let out = fresh.ok(&["pull", "--all-tags", &repo]);
    assert!(out.starts_with("one: Pulling from tags/t\n"), "{out}");
    assert!(
        out.ends_with(&format!(
            "Status: Downloaded newer image for {repo}\n{repo}\n"
        )),
        "{out}"
    );
    assert_eq!(
        fresh
            .ok(&["images", "--format", "{{.Tag}}"])
            .lines()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        2
    );
    let o = fresh.fails(&["pull", "-a", &format!("{repo}:one")]);
    assert_eq!(
        o.stderr.trim(),
        "Error: tag can't be used with --all-tags/-a"
    );
}

#[test]
fn docker_io_pulls_come_from_a_registry_mirror() {
    let mirror = Registry::start();
    let bay = Bay::new();
    bay.import_busybox("seed:1", "mirrored");
    // A pull-through mirror stores Docker Hub images under their Hub paths.
    let in_mirror = format!("{}/library/mirrored:1", mirror.host());
    bay.ok(&["tag", "seed:1", &in_mirror]);
    let digest = digest_line(&bay.ok(&["push", &in_mirror]));
    let fresh = Bay::new();
    fresh.set_registries(
        &serde_json::json!({"registry-mirrors": [format!("http://{}", mirror.host())]}),
    );
    let out = fresh.ok(&["pull", "mirrored:1"]);
    assert!(
        out.starts_with("1: Pulling from library/mirrored\n"),
        "{out}"
    );
    assert!(out.ends_with(&format!("Digest: {digest}\nStatus: Downloaded newer image for mirrored:1\ndocker.io/library/mirrored:1\n")), "{out}");
    assert_eq!(
        fresh.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "mirrored:1\n"
    );
}
