#!/usr/bin/env python3
"""CRI (runtime.v1) pod and container lifecycle against containerd's CRI plugin.

usage: cri_lifecycle.py --socket PATH [--handler NAME] [--gen DIR] [--logs DIR]
Runs RunPodSandbox, CreateContainer, StartContainer, ExecSync, UpdateContainerResources,
ContainerStats, StopContainer,
RemoveContainer, StopPodSandbox, RemovePodSandbox; prints one line per step and
"CRI lifecycle OK" at the end; exits 1 on the first failure (after removing the pod).
Needs setup-cri-client.sh (stubs in --gen) and busybox + pause images in namespace k8s.io.
"""
import argparse, os, sys, time, uuid

ap = argparse.ArgumentParser()
ap.add_argument("--socket", required=True)
ap.add_argument("--handler", default="")
ap.add_argument("--gen", default=os.path.join(os.path.dirname(__file__), "../../target/engines/cri/gen"))
ap.add_argument("--logs", default="/tmp")
a = ap.parse_args()
sys.path.insert(0, a.gen)
import grpc  # noqa: E402
import api_pb2 as pb  # noqa: E402
import api_pb2_grpc as rpc  # noqa: E402

ch = grpc.insecure_channel("unix://" + a.socket)
rt = rpc.RuntimeServiceStub(ch)
pod_id = None


def fail(msg):
    print("FAIL", msg)
    if pod_id:
        try:
            rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=30)
            rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=30)
        except grpc.RpcError:
            pass
    sys.exit(1)


def step(name, f):
    t0 = time.time()
    try:
        r = f()
    except grpc.RpcError as e:
        fail(f"{name}: {e.code()} {e.details()}")
    print(f"OK   {name} ({(time.time() - t0) * 1000:.0f} ms)", flush=True)
    return r


uid = uuid.uuid4().hex[:8]
logdir = os.path.join(a.logs, f"cri-{uid}")
meta = pb.PodSandboxMetadata(name=f"pod-{uid}", uid=uid, namespace="default", attempt=0)
pcfg = pb.PodSandboxConfig(metadata=meta, hostname=f"pod-{uid}", log_directory=logdir,
                           linux=pb.LinuxPodSandboxConfig(cgroup_parent=""))
pod = step(f"RunPodSandbox handler={a.handler!r}",
           lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pcfg, runtime_handler=a.handler), timeout=60))
pod_id = pod.pod_sandbox_id
ps = step("PodSandboxStatus", lambda: rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id)))
if ps.status.state != pb.SANDBOX_READY:
    fail("pod is not ready")
print("     pod ip:", ps.status.network.ip)

ccfg = pb.ContainerConfig(
    metadata=pb.ContainerMetadata(name="main", attempt=0),
    image=pb.ImageSpec(image="docker.io/library/busybox:latest"),
    command=["sh", "-c", "echo started; trap 'exit 0' TERM; while :; do sleep 0.2; done"],
    log_path="main.log",
    linux=pb.LinuxContainerConfig(resources=pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20)),
)
c = step("CreateContainer", lambda: rt.CreateContainer(pb.CreateContainerRequest(
    pod_sandbox_id=pod_id, config=ccfg, sandbox_config=pcfg), timeout=60))
cid = c.container_id
step("StartContainer", lambda: rt.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=60))
ex = step("ExecSync", lambda: rt.ExecSync(pb.ExecSyncRequest(
    container_id=cid, cmd=["sh", "-c", "echo exec-ok; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; exit 3"],
    timeout=20), timeout=30))
out = ex.stdout.decode().split()
print("     exec exit", ex.exit_code, "stdout:", out)
if ex.exit_code != 3 or out[:2] != ["exec-ok", str(64 << 20)]:
    fail(f"ExecSync returned {ex.exit_code} {out}")
step("UpdateContainerResources", lambda: rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
    container_id=cid, linux=pb.LinuxContainerResources(memory_limit_in_bytes=48 << 20)), timeout=30))
ex = step("ExecSync", lambda: rt.ExecSync(pb.ExecSyncRequest(
    container_id=cid, cmd=["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"], timeout=20), timeout=30))
if ex.stdout.decode().strip() != str(48 << 20):
    fail(f"memory limit after update: {ex.stdout.decode().strip()}")
cs = step("ContainerStatus", lambda: rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)))
if cs.status.state != pb.CONTAINER_RUNNING:
    fail("container is not running")
st = step("ContainerStats", lambda: rt.ContainerStats(pb.ContainerStatsRequest(container_id=cid)))
print("     memory working set", st.stats.memory.working_set_bytes.value)
if st.stats.memory.working_set_bytes.value == 0 and st.stats.cpu.usage_core_nano_seconds.value == 0:
    fail("stats are empty")
step("StopContainer", lambda: rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=10), timeout=30))
cs = step("ContainerStatus", lambda: rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)))
print("     state", pb.ContainerState.Name(cs.status.state), "exit", cs.status.exit_code)
if cs.status.state != pb.CONTAINER_EXITED or cs.status.exit_code != 0:
    fail("container did not exit 0 on TERM")
try:
    log = open(os.path.join(logdir, "main.log")).read()
except OSError as e:
    fail(f"container log unreadable: {e}")
if "started" not in log:
    fail(f"container log lacks output: {log!r}")
step("RemoveContainer", lambda: rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid), timeout=30))
step("StopPodSandbox", lambda: rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=30))
step("RemovePodSandbox", lambda: rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=30))
pod_id = None
print("CRI lifecycle OK handler=%r" % a.handler)
