"""securityContext users, groups, capabilities, no_new_privs, runAsNonRoot
and readOnlyRootFilesystem, checked from inside real containers and from
`nspod exec` by reading /proc/self/status. Rootless, the pod's user namespace
maps 0 to the test user and 1..65536 to its subordinate range
(scripts/lib/testuser.sh). tests/root runs some of these as root."""
import json

from nspod import capabilities
from podtest import nspod, wait_for

# Run inside the container: its /proc/self/status and which paths it can
# write, as one JSON line.
PROBE = """
import errno, json, os
st = dict(l.rstrip("\\n").split(":\\t", 1) for l in open("/proc/self/status") if ":\\t" in l)
out = {k: st.get(k, "").strip() for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
                                          "CapAmb", "NoNewPrivs", "Seccomp")}
def writable(path):
    path += "-" + os.urandom(6).hex()  # (the pod's containers share /data and /dev/shm: a name of its own)
    try:
        open(path, "w").close()
        os.unlink(path)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
for key, path in (("root", "/probe"), ("tmp", "/tmp/probe"), ("run", "/run/probe"), ("data", "/data/probe"),
                  ("shm", "/dev/shm/probe"), ("vartmp", "/var/tmp/probe")):
    out["write_" + key] = writable(path)
out["write_null"] = "ok" if os.write(os.open("/dev/null", os.O_WRONLY), b"x") == 1 else "no"
print(json.dumps(out), flush=True)
"""

DEFAULT_MASK = f"{capabilities.mask(capabilities.DEFAULT):016x}"  # 00000000a80425fb


def caps(*names):
    return f"{capabilities.mask(names):016x}"


def container(name, security=None, **extra):
    c = {"name": name, "command": ["sh", "-c", 'python3 -c "$0" && exec sleep 300', PROBE],
         "volumeMounts": [{"name": "data", "mountPath": "/data"}], **extra}
    if security is not None:
        c["securityContext"] = security
    return c


def manifest(name, containers, pod_security=None, restart="Never"):
    spec = {"restartPolicy": restart, "terminationGracePeriodSeconds": 0, "containers": containers,
            "volumes": [{"name": "data", "emptyDir": {}}]}
    if pod_security:
        spec["securityContext"] = pod_security
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})


def probed(pod, name):
    logged = wait_for(lambda: nspod("logs", pod, "-c", name, check=False).stdout.strip(),
                      what=f"the probe of {pod}/{name}")
    return json.loads(logged.splitlines()[0])


def exec_probe(pod, name):
    return json.loads(nspod("exec", pod, "-c", name, "--", "python3", "-c", PROBE).stdout)


def security(pods, pod):
    return {c["name"]: c["security"] for c in pods.inspect(pod)["nspod"]["containers"]}


def ids(seen):
    return seen["Uid"].split()[0], seen["Gid"].split()[0], seen["Groups"]


def test_users_and_groups_in_containers_and_exec(pods):
    pods.run(manifest("sctx-users", [
        container("pod-level"),
        container("own", {"runAsUser": 2000, "runAsGroup": 2001}),
        container("root", {"runAsUser": 0, "runAsGroup": 0}),
    ], pod_security={"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000, 65536]}))
    pods.run(manifest("sctx-nobody", [container("default")]))
    expected = {"pod-level": ("1000", "3000", "3000 4000 65536"), "own": ("2000", "2001", "2001 4000 65536"),
                "root": ("0", "0", "0 4000 65536")}
    for name, want in expected.items():
        seen = probed("sctx-users", name)
        assert ids(seen) == want, (name, seen)
        assert seen["Uid"].split() == [want[0]] * 4 and seen["Gid"].split() == [want[1]] * 4, seen
        assert ids(exec_probe("sctx-users", name)) == want, name  # exec runs as the container does
        assert seen["Seccomp"] == "2" and seen["NoNewPrivs"] == "1", seen
    # Without a securityContext: root of the pod's user namespace, group 0 only.
    assert ids(probed("sctx-nobody", "default")) == ("0", "0", "0")
    assert ids(exec_probe("sctx-nobody", "default")) == ("0", "0", "0")
    shown = security(pods, "sctx-users")
    assert (shown["own"]["uid"], shown["own"]["gid"], shown["own"]["groups"]) == (2000, 2001, [2001, 4000, 65536])
    # A non-root uid keeps the default capabilities across exec (ambient), as root does.
    pod_level = probed("sctx-users", "pod-level")
    for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert pod_level[key] == DEFAULT_MASK, (key, pod_level)
    assert probed("sctx-users", "root")["CapEff"] == DEFAULT_MASK


def test_capabilities_add_and_drop(pods):
    pods.run(manifest("sctx-caps", [
        container("default"),
        container("none", {"capabilities": {"drop": ["ALL"]}}),
        container("only", {"capabilities": {"drop": ["all"], "add": ["NET_ADMIN", "cap_net_bind_service"]}}),
        container("more", {"capabilities": {"add": ["SYS_TIME"], "drop": ["CAP_CHOWN", "kill"]}}),
        container("user", {"runAsUser": 1000, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
    ]))
    more = [c for c in capabilities.DEFAULT if c not in ("CAP_CHOWN", "CAP_KILL")] + ["CAP_SYS_TIME"]
    expected = {"default": DEFAULT_MASK, "none": caps(), "only": caps("CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"),
                "more": caps(*more), "user": caps("CAP_NET_BIND_SERVICE")}
    for name, mask in expected.items():
        for where, seen in (("container", probed("sctx-caps", name)), ("exec", exec_probe("sctx-caps", name))):
            for key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
                assert seen[key] == mask, (name, where, key, seen)
    shown = security(pods, "sctx-caps")
    assert shown["only"]["capabilities"] == ["CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"]
    assert shown["none"]["capabilities"] == []
    # What the capabilities decide: chown of a file needs CAP_CHOWN.
    chown = 'import os; open("/tmp/f", "w").close(); os.chown("/tmp/f", 5, 5); print("chowned")'
    assert nspod("exec", "sctx-caps", "-c", "default", "--", "python3", "-c", chown).stdout.strip() == "chowned"
    refused = nspod("exec", "sctx-caps", "-c", "none", "--", "python3", "-c", chown, check=False)
    assert refused.returncode != 0 and "PermissionError" in refused.stderr


def test_run_as_non_root(pods):
    pods.run(manifest("sctx-nonroot", [
        container("as-root"),
        container("as-user", {"runAsUser": 1000}),
        container("explicit-root", {"runAsUser": 0}),
    ], pod_security={"runAsNonRoot": True}))
    assert ids(probed("sctx-nonroot", "as-user"))[0] == "1000"
    for name, message in (
        ("as-root", 'container has runAsNonRoot and image will run as root (pod: "sctx-nonroot_default('),
        ("explicit-root", 'container\'s runAsUser breaks non-root policy (pod: "sctx-nonroot_default('),
    ):
        # As the kubelet: the container is never created; it waits with the
        # reason, is not counted as a restart, and is tried again later.
        st = wait_for(lambda: (s := pods.status("sctx-nonroot", name))["state"].get("waiting", {}).get("reason")
                      == "CreateContainerConfigError" and s, what=name)
        state = st["state"]["waiting"]
        assert message in state["message"] and f"container: {name})" in state["message"], state
        assert st["restartCount"] == 0 and not st["lastState"], st
    assert pods.inspect("sctx-nonroot")["status"]["phase"] == "Pending"


def test_allow_privilege_escalation(pods):
    pods.run(manifest("sctx-nnp", [
        container("default"),
        container("false", {"allowPrivilegeEscalation": False}),
        container("true", {"allowPrivilegeEscalation": True}),
        container("true-user", {"allowPrivilegeEscalation": True, "runAsUser": 1000}),
    ]))
    expected = {"default": "1", "false": "1", "true": "0", "true-user": "0"}
    for name, nnp in expected.items():
        for where, seen in (("container", probed("sctx-nnp", name)), ("exec", exec_probe("sctx-nnp", name))):
            assert seen["NoNewPrivs"] == nnp, (name, where, seen)
            assert seen["Seccomp"] == "2", (name, where, seen)  # the filter loads without no_new_privs too
    shown = security(pods, "sctx-nnp")
    assert shown["true"]["noNewPrivs"] is False and shown["default"]["noNewPrivs"] is True


def test_read_only_root_filesystem(pods):
    pods.run(manifest("sctx-ro", [
        container("ro", {"readOnlyRootFilesystem": True}),
        container("rw", {"readOnlyRootFilesystem": False}),
        container("ro-tmp", {"readOnlyRootFilesystem": True},
                  volumeMounts=[{"name": "data", "mountPath": "/data"}, {"name": "scratch", "mountPath": "/tmp"}]),
    ]).replace('"volumes": [', '"volumes": [{"name": "scratch", "emptyDir": {}}, '))
    ro, rw, ro_tmp = (probed("sctx-ro", n) for n in ("ro", "rw", "ro-tmp"))
    for key in ("root", "tmp", "run", "vartmp"):
        assert ro[f"write_{key}"] == "EROFS", (key, ro)
        assert rw[f"write_{key}"] == "ok", (key, rw)
    for key in ("data", "shm", "null"):  # volumes and /dev keep their own mode
        assert ro[f"write_{key}"] == "ok", (key, ro)
    assert ro_tmp["write_tmp"] == "ok" and ro_tmp["write_root"] == "EROFS", ro_tmp  # an emptyDir on /tmp
    assert exec_probe("sctx-ro", "ro")["write_root"] == "EROFS"
    shown = security(pods, "sctx-ro")
    assert shown["ro"]["readOnlyRootFilesystem"] is True and shown["rw"]["readOnlyRootFilesystem"] is False


def test_inspect_shows_the_effective_confinement(pods):
    pods.run(manifest("sctx-inspect", [container("a", {"runAsUser": 7, "capabilities": {"drop": ["ALL"]}})]))
    probed("sctx-inspect", "a")
    shown = security(pods, "sctx-inspect")["a"]
    assert shown["uid"] == 7 and shown["gid"] == 0 and shown["groups"] == [0]
    assert shown["capabilities"] == [] and shown["noNewPrivs"] is True and shown["seccomp"] == "RuntimeDefault"
    assert "/proc/kcore" in shown["maskedPaths"] and "/proc/sys" in shown["readonlyPaths"]


def test_bad_values_exit_2_with_the_field_path(pods):
    for security, path, fragment in (
        ({"capabilities": {"add": ["NET_ADMIN", "FLY"]}}, "spec.containers[0].securityContext.capabilities.add[1]",
         '"FLY" is not a Linux capability'),
        ({"runAsUser": -1}, "spec.containers[0].securityContext.runAsUser", "must be between 0 and 2147483647"),
        ({"runAsGroup": -3}, "spec.containers[0].securityContext.runAsGroup", "must be between 0 and 2147483647"),
    ):
        done = pods.run(manifest("sctx-bad", [container("a", security)]), check=False)
        assert done.returncode == 2, done
        assert f"{path}: " in done.stderr and fragment in done.stderr, done.stderr
    assert "sctx-bad" not in nspod("ps").stdout


def test_ids_outside_the_subordinate_range_are_refused_up_front(pods):
    done = pods.run(manifest("sctx-range", [container("a", {"runAsUser": 65537})]), check=False)
    assert done.returncode == 1, done
    assert 'container "a": uid 65537 does not exist in the pod\'s user namespace' in done.stderr, done.stderr
    assert "/etc/subuid" in done.stderr
    done = pods.run(manifest("sctx-range", [container("a")], pod_security={"supplementalGroups": [100000]}),
                    check=False)
    assert done.returncode == 1 and "gid 100000" in done.stderr and "/etc/subgid" in done.stderr, done.stderr
    assert "sctx-range" not in nspod("ps").stdout
