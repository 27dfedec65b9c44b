"""seccomp profiles as data: RuntimeDefault (containerd's default profile)
resolved against capabilities, architecture and kernel; profile checking;
the rules libseccomp is given; which profile a container gets; Localhost
profiles read up front with errors that name the field and the file."""

import json

import pytest

from nspod import seccomp
from nspod.errors import HostUnsupported, ManifestError
from nspod import capabilities
from nspod.kernel import seccomp as libseccomp
from nspod.seccomp import (
    RUNTIME_DEFAULT, Condition, ProfileError, Seccomp, kernel_release, parse_profile, resolve,
)
from nspod.spec import load_pods

DEFAULT_CAPS = list(capabilities.DEFAULT)
NS_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


def runtime_default(caps=DEFAULT_CAPS, machine="x86_64", kernel=(6, 1)):
    return resolve(RUNTIME_DEFAULT, caps, machine, kernel)


def allowed(filter_):
    """Names allowed without any condition."""
    return {n for c in filter_.syscalls if c.action == "SCMP_ACT_ALLOW" and not c.args for n in c.names}


def rules_for(filter_, name):
    return [c for c in filter_.syscalls if name in c.names]


# -- RuntimeDefault: containerd's profile ------------------------------------------
def test_runtime_default_is_deny_by_default_with_eperm():
    f = runtime_default()
    assert (f.default_action, f.default_errno) == ("SCMP_ACT_ERRNO", 1)
    assert f.flags == ()


def test_default_caps_are_containerd_default_set():
    assert sorted(DEFAULT_CAPS) == sorted([
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"])


@pytest.mark.parametrize("machine, arches", [
    ("x86_64", ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")),
    ("aarch64", ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")),
    ("riscv64", ()),  # not in the map: the native architecture only
])
def test_architectures_from_the_arch_map(machine, arches):
    assert runtime_default(machine=machine).architectures == arches


def test_allow_list_has_the_everyday_calls_and_not_the_dangerous_ones():
    ok = allowed(runtime_default())
    assert len(ok) > 350
    for name in ("read", "write", "openat", "execve", "mmap", "futex", "wait4", "socketpair", "setuid",
                 "capset", "prctl", "seccomp", "pidfd_open", "io_setup", "chroot"):  # chroot: CAP_SYS_CHROOT
        assert name in ok, name
    for name in ("unshare", "setns", "mount", "umount2", "pivot_root", "bpf", "perf_event_open",
                 "kexec_load", "kexec_file_load", "add_key", "keyctl", "request_key", "reboot",
                 "init_module", "open_by_handle_at", "clock_settime", "syslog", "ptrace_not_a_call",
                 "io_uring_setup", "userfaultfd", "swapon", "acct", "vhangup", "mbind", "iopl"):
        assert name not in ok, name
        assert not rules_for(runtime_default(), name), name


def test_argument_filters_for_socket_personality_and_clone():
    f = runtime_default()
    sockets = [c.args for c in rules_for(f, "socket")]
    assert sockets == [(Condition(0, "SCMP_CMP_LT", 38),), (Condition(0, "SCMP_CMP_EQ", 39),),
                       (Condition(0, "SCMP_CMP_GT", 40),)]  # not AF_ALG (38), not AF_VSOCK (40)
    personas = sorted(c.args[0].value for c in rules_for(f, "personality"))
    assert personas == [0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert all(c.args[0].op == "SCMP_CMP_EQ" for c in rules_for(f, "personality"))
    (clone,) = rules_for(f, "clone")
    assert clone.action == "SCMP_ACT_ALLOW"
    assert clone.args == (Condition(0, "SCMP_CMP_MASKED_EQ", NS_FLAGS, 0),)  # no namespace flag
    (clone3,) = rules_for(f, "clone3")
    assert (clone3.action, clone3.errno) == ("SCMP_ACT_ERRNO", 38)  # ENOSYS: glibc falls back to clone


def test_arch_conditionals():
    x86, arm = allowed(runtime_default()), allowed(runtime_default(machine="aarch64"))
    assert {"arch_prctl", "modify_ldt"} <= x86
    assert not {"arch_prctl", "modify_ldt"} & arm
    assert {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
            "set_tls"} <= arm
    assert not {"arm_fadvise64_64", "set_tls", "s390_runtime_instr", "riscv_flush_icache"} & x86
    assert rules_for(runtime_default(machine="s390x"), "clone")[0].args[0].index == 1  # s390's order


def test_kernel_conditional_for_ptrace():
    assert {"ptrace", "process_vm_readv", "process_vm_writev"} <= allowed(runtime_default(kernel=(4, 8)))
    assert not {"ptrace", "process_vm_readv"} & allowed(runtime_default(kernel=(4, 4)))


@pytest.mark.parametrize("cap, names", [
    ("CAP_SYS_ADMIN", {"mount", "umount2", "unshare", "setns", "clone3", "bpf", "sethostname"}),
    ("CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise"}),
    ("CAP_SYS_BOOT", {"reboot"}),
    ("CAP_SYS_MODULE", {"init_module", "finit_module", "delete_module"}),
    ("CAP_SYS_TIME", {"settimeofday", "clock_settime"}),
    ("CAP_DAC_READ_SEARCH", {"open_by_handle_at"}),
    ("CAP_SYSLOG", {"syslog"}),
    ("CAP_BPF", {"bpf"}),
    ("CAP_PERFMON", {"perf_event_open"}),
])
def test_capability_conditionals(cap, names):
    assert not names & allowed(runtime_default())
    assert names <= allowed(runtime_default(caps=DEFAULT_CAPS + [cap]))


def test_sys_admin_frees_clone_and_drops_the_clone3_enosys():
    f = runtime_default(caps=DEFAULT_CAPS + ["CAP_SYS_ADMIN"])
    assert {"clone", "clone3"} <= allowed(f)
    assert all(c.action == "SCMP_ACT_ALLOW" and not c.args for c in rules_for(f, "clone"))
    assert all(c.action == "SCMP_ACT_ALLOW" for c in rules_for(f, "clone3"))


def test_chroot_follows_cap_sys_chroot():
    without = [c for c in DEFAULT_CAPS if c != "CAP_SYS_CHROOT"]
    assert "chroot" not in allowed(runtime_default(caps=without))


# -- includes / excludes, as Docker resolves them -----------------------------------
def profile_with(*syscalls, **top):
    return parse_profile({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": list(syscalls), **top})


def test_includes_need_every_cap_excludes_any():
    p = profile_with(
        {"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_X", "CAP_Y"]}},
        {"names": ["b"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_X", "CAP_Z"]}},
        {"names": ["c"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"], "minKernel": "5.10"}},
        {"names": ["d"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}},
    )

    def names(caps, machine="x86_64", kernel=(6, 1)):
        return allowed(resolve(p, caps, machine, kernel))

    assert names(["CAP_X"]) == {"c"}
    assert names(["CAP_X", "CAP_Y"]) == {"a", "c"}
    assert names([]) == {"b", "c"}
    assert names(["CAP_Z"], kernel=(5, 4)) == {"d"}
    assert names([], machine="aarch64") == {"b"}


def test_oci_format_architectures_and_old_name_field():
    p = parse_profile({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    })
    f = resolve(p, [], "aarch64", (6, 1))  # an explicit list is taken as it is
    assert f.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86")
    assert list(f.rules()) == [("mkdir", "SCMP_ACT_ERRNO", 13, ())]


def test_rules_as_libseccomp_gets_them():
    p = profile_with(
        {"names": ["read", "write"], "action": "SCMP_ACT_ERRNO"},  # the default action: left out
        {"names": ["x"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},  # another errno: kept
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW",  # distinct arguments: one rule, all hold
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"}, {"index": 1, "value": 9, "op": "SCMP_CMP_NE"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",  # the same argument twice: a rule each
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
    )
    rules = list(resolve(p, [], "x86_64", (6, 1)).rules())
    assert rules == [
        ("x", "SCMP_ACT_ERRNO", 38, ()),
        ("kill", "SCMP_ACT_ALLOW", None,
         (Condition(0, "SCMP_CMP_GT", 1), Condition(1, "SCMP_CMP_NE", 9))),
        ("socket", "SCMP_ACT_ALLOW", None, (Condition(0, "SCMP_CMP_EQ", 1),)),
        ("socket", "SCMP_ACT_ALLOW", None, (Condition(0, "SCMP_CMP_EQ", 2),)),
    ]


def test_runtime_default_rules_skip_nothing_it_allows():
    rules = list(runtime_default().rules())
    assert {r[0] for r in rules} == allowed(runtime_default()) | {"socket", "personality", "clone", "clone3"}


BAD_PROFILES = [
    ([], "must be a JSON object"),
    ({"syscalls": []}, "defaultAction: is required"),
    ({"defaultAction": "SCMP_ACT_DENY"}, 'defaultAction: "SCMP_ACT_DENY" is not a seccomp action'),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "needs a seccomp agent"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}, "not supported by nspod"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}, "defaultErrnoRet: only SCMP_ACT_ERRNO"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "defaultAtcion": "x"}, "defaultAtcion: unknown field"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]}, "architectures[0]:"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "use one of them"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}, "flags[0]:"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}}, "syscalls: must be a list"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"]}]}, "syscalls[0].action: is required"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]},
     "syscalls[0].names: must be a list of syscall names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_LOG"}]},
     "name and names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                                                        "errnoRet": 70000}]}, "errnoRet: must be an integer"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                                                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].index: must be an argument number from 0 to 5"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                                                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_IS"}]}]},
     "syscalls[0].args[0].op:"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                                                        "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].value: must be an integer"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                                                        "includes": {"minKernel": "4"}}]},
     "syscalls[0].includes.minKernel"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                                                        "excludes": {"caps": ["SYS_ADMIN"]}}]},
     "syscalls[0].excludes.caps: must be capability names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                                                        "includes": {"kernel": "4.8"}}]},
     "syscalls[0].includes.kernel: unknown field"),
]


@pytest.mark.parametrize("data, fragment", BAD_PROFILES, ids=[b[1][:30] for b in BAD_PROFILES])
def test_bad_profiles(data, fragment):
    with pytest.raises(ProfileError) as caught:
        parse_profile(data)
    assert fragment in str(caught.value)


def test_kernel_tables_cover_the_profile_vocabulary():
    assert set(seccomp.ACTIONS) == set(libseccomp.ACTIONS)
    assert set(seccomp.OPERATORS) == set(libseccomp.OPERATORS)
    assert set(seccomp.FLAGS) == set(libseccomp.FLAGS)


@pytest.mark.parametrize("release, version", [
    ("6.1.0-18-amd64", (6, 1)), ("6.18.44-fc-v669", (6, 18)), ("4.8", (4, 8)), ("5.10.0+", (5, 10)),
])
def test_kernel_release(release, version):
    assert kernel_release(release) == version


# -- which profile a container gets ---------------------------------------------------
def pods(text):
    return load_pods(text, "pod.yaml")[0]


def pod_yaml(pod_sc="", app_sc="", name="web"):
    lines = ["apiVersion: v1", "kind: Pod", f"metadata: {{name: {name}}}", "spec:"]
    if pod_sc:
        lines.append(f"  securityContext: {{seccompProfile: {pod_sc}}}")
    lines += ["  containers:", "  - name: app", "    command: [sleep, '1']"]
    if app_sc:
        lines.append(f"    securityContext: {{seccompProfile: {app_sc}}}")
    lines += ["  - name: side", "    command: [sleep, '1']"]
    return "\n".join(lines) + "\n"


def test_for_container_defaults_to_runtime_default():
    (pod,) = pods(pod_yaml())
    assert [seccomp.for_container(pod, c, {}) for c in pod.containers] == [Seccomp("RuntimeDefault")] * 2


def test_for_container_merges_pod_and_container_levels():
    (pod,) = pods(pod_yaml(pod_sc="{type: Localhost, localhostProfile: a.json}", app_sc="{type: Unconfined}"))
    settings = {"seccomp_profiles": {"a.json": {"defaultAction": "SCMP_ACT_ALLOW"}}}
    app, side = (seccomp.for_container(pod, c, settings) for c in pod.containers)
    assert app == Seccomp("Unconfined")
    assert side == Seccomp("Localhost/a.json", {"defaultAction": "SCMP_ACT_ALLOW"})
    # A pod made before its profile was read (an older nspod) gets none: no program, no start.
    assert seccomp.for_container(pod, pod.containers[1], {}) == Seccomp("Localhost/a.json", None)
    with pytest.raises(ProfileError, match="not read when the pod was created"):
        seccomp.program(Seccomp("Localhost/a.json", None))


def test_profiles_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(seccomp.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert seccomp.profiles_dir() == tmp_path / "nspod" / "seccomp"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", "/home/u")
    assert str(seccomp.profiles_dir()) == "/home/u/.config/nspod/seccomp"
    monkeypatch.setattr(seccomp.os, "geteuid", lambda: 0)
    assert str(seccomp.profiles_dir()) == "/etc/nspod/seccomp"


# -- Localhost profiles, read by `nspod run` -----------------------------------------
@pytest.fixture
def profiles(monkeypatch, tmp_path):
    monkeypatch.setattr(seccomp, "profiles_dir", lambda: tmp_path)
    return tmp_path


def test_localhost_profiles_are_read_once_each(profiles):
    (profiles / "audit").mkdir()
    data = {"defaultAction": "SCMP_ACT_LOG"}
    (profiles / "audit" / "log.json").write_text(json.dumps(data))
    pod = pods(pod_yaml(pod_sc="{type: Localhost, localhostProfile: audit/log.json}"))
    assert seccomp.read_localhost_profiles(pod) == {"audit/log.json": data}
    assert seccomp.read_localhost_profiles(pods(pod_yaml())) == {}


@pytest.mark.parametrize("content, fragment", [
    (None, "does not exist (put the profile there)"),
    ("{not json", "is not JSON"),
    ('{"defaultAction": "SCMP_ACT_MAYBE"}', "is not a valid profile: defaultAction:"),
    ("dir", "is a directory"),
])
def test_localhost_profile_problems_name_field_and_file(profiles, content, fragment):
    path = profiles / "p.json"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ManifestError) as caught:
        seccomp.read_localhost_profiles(pods(pod_yaml(app_sc="{type: Localhost, localhostProfile: p.json}")))
    assert caught.value.exit_code == 2
    ((field, message),) = caught.value.problems
    assert field == "spec.containers[0].securityContext.seccompProfile.localhostProfile"
    assert str(path) in message and fragment in message


def test_localhost_profile_problem_from_pod_level_in_a_multi_document_file(profiles):
    text = pod_yaml(name="a") + "---\n" + pod_yaml(name="b", pod_sc="{type: Localhost, localhostProfile: x.json}")
    with pytest.raises(ManifestError) as caught:
        seccomp.read_localhost_profiles(load_pods(text, "pods.yaml")[0])
    ((field, message),) = caught.value.problems
    assert field == "[1].spec.securityContext.seccompProfile.localhostProfile"
    assert str(profiles / "x.json") in message


def test_missing_libseccomp_is_reported_up_front(profiles, monkeypatch):
    monkeypatch.setattr(libseccomp, "_missing", "libseccomp.so.2 cannot be loaded (test)")
    with pytest.raises(HostUnsupported, match="apt-get install libseccomp2"):
        seccomp.read_localhost_profiles(pods(pod_yaml()))
    # Nothing to confine, nothing needed.
    assert seccomp.read_localhost_profiles(pods(pod_yaml(pod_sc="{type: Unconfined}"))) == {}


def test_warm_keeps_the_program_in_the_state_folder(tmp_path, monkeypatch):
    """The node holder builds RuntimeDefault's program once per boot and nspod
    version: the next one reads it from the state folder (0700, the user's)."""
    state = tmp_path / "state"
    monkeypatch.setenv("NSPOD_STATE_DIR", str(state))
    monkeypatch.setattr(seccomp.libseccomp, "unavailable", lambda: None)
    built = []

    def compile_(filter_):
        built.append(filter_)
        return b"\x06\x00\x00\x00\x00\x00\xff\x7f"  # one instruction: return ALLOW

    monkeypatch.setattr(seccomp.libseccomp, "compile", compile_)
    monkeypatch.setattr(seccomp, "_PROGRAMS", {})
    seccomp.warm()
    [cached] = state.glob("seccomp-*.bpf")
    assert len(built) == 1 and cached.read_bytes().endswith(b"\n\x06\x00\x00\x00\x00\x00\xff\x7f")
    assert cached.stat().st_mode & 0o777 == 0o600
    monkeypatch.setattr(seccomp, "_PROGRAMS", {})
    seccomp.warm()  # a new node holder: read, not built
    assert len(built) == 1
    assert list(seccomp._PROGRAMS.values()) == [b"\x06\x00\x00\x00\x00\x00\xff\x7f"]
    # A file whose key differs (another libseccomp, kernel or profile) or
    # that is cut short is not used: the program is built again.
    for bad in (b"nspod-seccomp 0 other\n" + b"\0" * 8, cached.read_bytes()[:-3]):
        cached.write_bytes(bad)
        monkeypatch.setattr(seccomp, "_PROGRAMS", {})
        seccomp.warm()
        assert cached.read_bytes().endswith(b"\n\x06\x00\x00\x00\x00\x00\xff\x7f")
    assert len(built) == 3
    # Not a file we wrote: one others may write, or a symlink, is not read.
    good = cached.read_bytes()
    cached.chmod(0o666)
    monkeypatch.setattr(seccomp, "_PROGRAMS", {})
    seccomp.warm()
    assert len(built) == 4
    cached.unlink()
    (tmp_path / "elsewhere").write_bytes(good)
    cached.symlink_to(tmp_path / "elsewhere")
    monkeypatch.setattr(seccomp, "_PROGRAMS", {})
    seccomp.warm()
    assert len(built) == 5
