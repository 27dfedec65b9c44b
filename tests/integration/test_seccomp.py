"""seccomp, checked from inside real containers and `nspod exec`: every
container gets containerd's RuntimeDefault profile unless its
securityContext says Unconfined or names a Localhost profile. Each probe is a
syscall the profile decides on, made with ctypes (no keyctl or kexec tools
needed). tests/root runs the first test as root."""
import json
import platform

from podtest import nspod, wait_for

# Syscall numbers of the calls probed, per machine.
NUMBERS = {
    "x86_64": {"add_key": 248, "keyctl": 250, "kexec_load": 246, "personality": 135, "clone3": 435},
    "aarch64": {"add_key": 217, "keyctl": 219, "kexec_load": 104, "personality": 92, "clone3": 435},
}[platform.machine()]

# Run inside the container: each probe's result (0 / a value, or the errno's
# name), as one JSON line.
PROBE = f"""
import ctypes, errno, json, os, socket, subprocess
N = {NUMBERS!r}
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(name, *args):
    ret = libc.syscall(ctypes.c_long(N[name]), *[ctypes.c_ulong(a) if isinstance(a, int) else a for a in args])
    return errno.errorcode[ctypes.get_errno()] if ret == -1 else "ok"
def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
status = dict(l.split(":", 1) for l in open("/proc/self/status"))
out = {{"seccomp": int(status["Seccomp"])}}
u = subprocess.run(["unshare", "-U", "true"], capture_output=True, text=True)
out["unshare"] = "ok" if u.returncode == 0 else u.stderr.strip()
out["add_key"] = call("add_key", b"user", b"nspod-test", b"x", ctypes.c_ulong(1), ctypes.c_long(-2))
out["keyctl"] = call("keyctl", 0, ctypes.c_long(-2), 0)  # KEYCTL_GET_KEYRING_ID of the process keyring
out["kexec_load"] = call("kexec_load", 0, 0, 0, 0)
out["personality_query"] = call("personality", 0xFFFFFFFF)
out["personality_linux32"] = call("personality", 0x0008)
call("personality", 0)
out["personality_no_randomize"] = call("personality", 0x0040000)  # ADDR_NO_RANDOMIZE
call("personality", 0)
out["clone3"] = call("clone3", 0, 0)
out["vsock"] = attempt(lambda: socket.socket(40, socket.SOCK_STREAM).close())  # AF_VSOCK
out["inet"] = attempt(lambda: socket.socket().close())
out["fork_exec"] = attempt(lambda: subprocess.run(["true"], check=True))
out["mkdir"] = attempt(lambda: (os.mkdir("/tmp/nspod-sc"), os.rmdir("/tmp/nspod-sc")))
print(json.dumps(out), flush=True)
"""

EPERM_MESSAGE = "Operation not permitted"


def container(name, security=None):
    c = {"name": name, "command": ["sh", "-c", 'python3 -c "$0" && exec sleep 300', PROBE]}
    if security is not None:
        c["securityContext"] = {"seccompProfile": security}
    return c


def run_pod(pods, name, containers, pod_security=None):
    spec = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0, "containers": containers}
    if pod_security:
        spec["securityContext"] = {"seccompProfile": pod_security}
    pods.run(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}))


def probed(pod, name):
    logged = wait_for(lambda: nspod("logs", pod, "-c", name, check=False).stdout.strip(),
                      what=f"the probe of {pod}/{name}")
    return json.loads(logged.splitlines()[0])


def exec_probe(pod, name):
    return json.loads(nspod("exec", pod, "-c", name, "--", "python3", "-c", PROBE).stdout)


def modes(pods, pod):
    return {c["name"]: {"seccomp": c["security"]["seccomp"]} for c in pods.inspect(pod)["nspod"]["containers"]}


def assert_runtime_default(seen, where):
    assert seen["seccomp"] == 2, (where, seen)
    # A user namespace needs no privilege; only the filter refuses it.
    assert EPERM_MESSAGE in seen["unshare"], (where, seen)
    for call in ("add_key", "keyctl", "kexec_load", "personality_no_randomize", "vsock"):
        assert seen[call] == "EPERM", (where, call, seen)
    assert seen["clone3"] == "ENOSYS", (where, seen)  # containerd's choice: glibc falls back to clone
    for call in ("personality_query", "personality_linux32", "inet", "fork_exec", "mkdir"):
        assert seen[call] == "ok", (where, call, seen)


def assert_unconfined(seen, where):
    assert seen["seccomp"] == 0, (where, seen)
    assert seen["unshare"] == "ok", (where, seen)
    for call in ("add_key", "keyctl", "personality_no_randomize", "personality_query", "mkdir"):
        assert seen[call] == "ok", (where, call, seen)
    assert seen["clone3"] == "EINVAL", (where, seen)  # the kernel's answer to a NULL clone_args
    assert seen["vsock"] != "EPERM", (where, seen)


def test_runtime_default_by_default_unconfined_on_request_and_exec_alike(pods):
    run_pod(pods, "sc-default", [container("default"), container("open", {"type": "Unconfined"})])
    assert_runtime_default(probed("sc-default", "default"), "container")
    assert_unconfined(probed("sc-default", "open"), "unconfined container")
    # exec gets the filter of the container it runs in.
    assert_runtime_default(exec_probe("sc-default", "default"), "exec")
    assert_unconfined(exec_probe("sc-default", "open"), "exec in the unconfined container")
    assert modes(pods, "sc-default") == {"default": {"seccomp": "RuntimeDefault"},
                                          "open": {"seccomp": "Unconfined"}}


NO_MKDIR = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}


def test_localhost_profile_from_the_pod_level_and_a_container_override(pods, tmp_path, monkeypatch):
    config = tmp_path / "config"
    (config / "nspod" / "seccomp" / "team").mkdir(parents=True)
    (config / "nspod" / "seccomp" / "team" / "no-mkdir.json").write_text(json.dumps(NO_MKDIR))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    run_pod(pods, "sc-local", [container("local"), container("default", {"type": "RuntimeDefault"})],
            pod_security={"type": "Localhost", "localhostProfile": "team/no-mkdir.json"})
    seen = probed("sc-local", "local")
    assert seen["seccomp"] == 2 and seen["mkdir"] == "EPERM", seen
    assert seen["unshare"] == "ok" and seen["add_key"] == "ok", seen  # the rest is allowed
    assert_runtime_default(probed("sc-local", "default"), "container override")
    # The profile was read when the pod was made: exec keeps it even if the file goes.
    (config / "nspod" / "seccomp" / "team" / "no-mkdir.json").unlink()
    assert exec_probe("sc-local", "local")["mkdir"] == "EPERM"
    assert modes(pods, "sc-local") == {"local": {"seccomp": "Localhost/team/no-mkdir.json"},
                                        "default": {"seccomp": "RuntimeDefault"}}


def test_missing_or_invalid_localhost_profile_is_bad_input_and_creates_nothing(pods, tmp_path, monkeypatch):
    config = tmp_path / "config"
    (config / "nspod" / "seccomp").mkdir(parents=True)
    (config / "nspod" / "seccomp" / "bad.json").write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscall": []}')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    for name, error in (("absent.json", "does not exist (put the profile there)"),
                        ("bad.json", "is not a valid profile: syscall: unknown field")):
        done = nspod("run", "-", check=False, input=json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sc-bad"},
            "spec": {"containers": [container("a", {"type": "Localhost", "localhostProfile": name})]}}))
        assert done.returncode == 2, done.stderr
        assert "spec.containers[0].securityContext.seccompProfile.localhostProfile" in done.stderr
        assert str(config / "nspod" / "seccomp" / name) in done.stderr and error in done.stderr, done.stderr
        assert nspod("inspect", "sc-bad", check=False).returncode == 1  # not created
    bad_type = nspod("run", "-", check=False, input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sc-bad"},
        "spec": {"containers": [container("a", {"type": "Default"})]}}))
    assert bad_type.returncode == 2
    assert "spec.containers[0].securityContext.seccompProfile.type: must be one of" in bad_type.stderr
