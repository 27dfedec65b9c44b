"""A container's start plan (container.start_plan): the operations nspod-exec
performs, in the order of the kernel steps, with what Python decided before
anything runs. Pure: the plan is written, not performed."""
import os

import pytest

from nspod import container, seccomp
from nspod.confinement import Confinement, for_container
from nspod.executor import Ops
from nspod.spec import load_pods

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  volumes: [{name: data}]
  containers:
  - name: app
    command: [sleep, "60"]
    env: [{name: GREETING, value: hi}]
    workingDir: /work
    volumeMounts: [{name: data, mountPath: /data, subPath: sub, readOnly: true}]
"""


def plan_of(text=POD, **overrides):
    pods, _ = load_pods(text, "pod.yaml")
    pod = pods[0]
    spec = pod.containers[0]
    values = dict(spec=spec, root="/state/rootfs/app", shm_dir="/state/shm", volumes={"data": "/state/vol/data"},
                  pod_ns={"mnt": 11, "net": 12, "ipc": 13, "uts": 14}, hostname="web",
                  stdout="/state/fifo/out", stderr="/state/fifo/err",
                  seccomp=seccomp.Seccomp("Unconfined"), confinement=for_container(pod, spec))
    values.update(overrides)
    return container.Plan(**values)


def names(ops):
    return [name for name, _ in ops.operations()]


def args(ops, name):
    return [a for n, a in ops.operations() if n == name]


def test_the_plan_reads_as_the_kernel_steps_in_order():
    ops = container.start_plan(plan_of(), "new")
    order = [n for n in names(ops) if n != "step"]
    wanted = ["pidns", "setns", "unshare", "private", "tmpfs", "volume", "stdio", "pivot", "kernelpaths",
              "ids", "env", "workdir", "caps", "exec"]
    positions = [order.index(n) for n in wanted]
    assert positions == sorted(positions), order
    ops_list = ops.operations()
    proc = next(i for i, (n, a) in enumerate(ops_list) if n == "mount" and a[0] == "proc")
    assert proc < names(ops).index("pivot")  # a user namespace mounts proc only before pivot_root
    assert args(ops, "pidns") == [["new"]]
    assert args(ops, "exec") == [["sleep", "60"]]
    assert args(ops, "workdir") == [["/work"]]


def test_the_pods_namespaces_are_joined_mnt_first_and_their_fds_passed():
    ops = container.start_plan(plan_of(), "new")
    assert [a[:2] for a in args(ops, "setns")] == [["11", "mnt"], ["12", "net"], ["13", "ipc"], ["14", "uts"]]
    assert ops.fds == [11, 12, 13, 14]


def test_a_shared_pid_namespace_is_an_fd_and_host_pid_none():
    ops = container.start_plan(plan_of(), 9)
    assert args(ops, "pidns") == [["9"]] and 9 in ops.fds
    assert args(container.start_plan(plan_of(), None), "pidns") == [["none"]]


def test_a_volume_carries_its_subpath_and_mode_for_the_lookup_inside_the_root():
    ops = container.start_plan(plan_of(), "new")
    assert args(ops, "volume") == [["/state/rootfs/app", "data", "/data", "/state/vol/data", "sub", "1", "0"]]


def test_a_process_container_runs_as_root_with_home_root_and_the_manifests_env():
    ops = container.start_plan(plan_of(), "new")
    assert args(ops, "ids") == [["0", "0", "0", "/root"]]
    (env,) = args(ops, "env")
    assert env[:2] == ["-1", "-1"] and "GREETING=hi" in env and "HOME=/root" in env


def test_an_images_user_is_looked_up_by_nspod_exec_and_home_filled_in_there():
    image = {"rootfs": {"driver": "copy", "root": "/images/x"}, "config": {"User": "daemon", "Env": []}}
    ops = container.start_plan(plan_of(image=image), "new")
    assert args(ops, "identity") == [["daemon", "1", "-1", ""]]
    (env,) = args(ops, "env")
    home_index = int(env[0])
    assert env[2 + home_index] == "HOME="  # nspod-exec puts the passwd entry's home there
    assert names(ops).index("accounts") < names(ops).index("volume")  # the image's own files


def test_run_as_non_root_is_refused_before_anything_runs():
    image = {"rootfs": {"driver": "copy", "root": "/images/x"}, "config": {"User": "0"}}
    with pytest.raises(container.StartError) as caught:
        container.start_plan(plan_of(image=image, confinement=Confinement(run_as_non_root=True)), "new")
    assert caught.value.reason == "CreateContainerConfigError"


def test_read_only_root_and_unmasked_change_the_plan():
    ops = container.start_plan(plan_of(confinement=Confinement(read_only_root=True, proc_mount="Unmasked")), "new")
    assert args(ops, "readonlyroot") == [["1"]] and not args(ops, "kernelpaths")


def test_a_nul_byte_is_refused_not_cut():
    ops = Ops()
    with pytest.raises(ValueError, match="NUL"):
        ops.add("exec", "sh\0-c")


def test_the_encoding_is_name_count_args_each_ending_in_nul():
    ops = Ops()
    ops.add("bind", "/a", "/b", True, False, None)
    assert ops.encode() == b"bind\x005\x00/a\x00/b\x001\x000\x00\x00"
    assert ops.operations() == [("bind", ["/a", "/b", "1", "0", ""])]


def test_paths_that_are_not_utf8_pass_as_their_bytes():
    ops = Ops()
    ops.add("mkdir", os.fsdecode(b"/x\xff"))
    assert ops.encode() == b"mkdir\x001\x00/x\xff\x00"


class FakeStarting:
    def __init__(self, ops, role, intermediate):
        pass

    def wait(self):
        return 4242


def test_a_restart_reuses_the_plan_when_nothing_it_was_made_from_changed(monkeypatch):
    made = []
    real = container.start_plan
    monkeypatch.setattr(container, "start_plan", lambda *a: made.append(a) or real(*a))
    monkeypatch.setattr(container.executor, "Starting", FakeStarting)
    plans, plan = {}, plan_of()
    assert container.start(plan, plans=plans) == 4242
    container.start(plan, plans=plans)
    assert len(made) == 1
    container.start(plan_of(hostname="other"), plans=plans)  # a change: planned again
    image = {"rootfs": {"driver": "copy", "root": "/images/x"}, "config": {}}
    container.start(plan_of(image=image), plans=plans)  # an image: each instance its own
    container.start(plan_of(image=image), plans=plans)
    assert len(made) == 4
