"""securityContext in manifests: the implemented fields at pod and container
level (the container's wins), the others still refused with their path, and
bad values reported as the API server reports them; the effective
confinement (nspod/confinement.py): user, groups, capabilities, no_new_privs."""

import json

import pytest

from nspod import capabilities
from nspod.confinement import Confinement, NonRootRefused, check_ids, for_container
from nspod.errors import HostUnsupported, ManifestError
from nspod.spec import SeccompProfile, SecurityContext, load_pods, load_stored
from nspod.spec.model import Capabilities


def manifest(pod_level="", container_level="", second_container=""):
    lines = ["apiVersion: v1", "kind: Pod", "metadata: {name: web}", "spec:"]
    if pod_level:
        lines.append(f"  securityContext: {pod_level}")
    lines += ["  containers:", "  - name: app", '    command: [sleep, "60"]']
    if container_level:
        lines.append(f"    securityContext: {container_level}")
    if second_container:
        lines += ["  - name: side", '    command: [sleep, "60"]', f"    securityContext: {second_container}"]
    return "\n".join(lines) + "\n"


def load(text):
    pods, _ = load_pods(text, "pod.yaml")
    return pods[0]


def problems(text):
    with pytest.raises(ManifestError) as caught:
        load_pods(text, "pod.yaml")
    return caught.value.problems


def test_no_security_context_means_no_profile_chosen():
    pod = load(manifest())
    assert pod.security_context == SecurityContext()
    assert pod.security(pod.containers[0]).seccomp_profile is None
    assert "securityContext" not in pod.manifest["spec"]


@pytest.mark.parametrize("kind", ["RuntimeDefault", "Unconfined"])
def test_pod_level_profile_applies_to_every_container(kind):
    pod = load(manifest(pod_level=f"{{seccompProfile: {{type: {kind}}}}}", second_container="{}"))
    for container in pod.containers:
        assert pod.security(container).seccomp_profile == SeccompProfile(kind)
    assert pod.manifest["spec"]["securityContext"] == {"seccompProfile": {"type": kind}}


def test_container_level_wins_over_pod_level():
    pod = load(manifest(
        pod_level="{seccompProfile: {type: Localhost, localhostProfile: profiles/audit.json}}",
        container_level="{seccompProfile: {type: Unconfined}}",
        second_container="{seccompProfile: null}",
    ))
    app, side = pod.containers
    assert app.security_context.seccomp_profile == SeccompProfile("Unconfined")
    assert pod.security(app).seccomp_profile.mode() == "Unconfined"
    assert side.security_context.seccomp_profile is None  # null: not set
    assert pod.security(side).seccomp_profile == SeccompProfile("Localhost", "profiles/audit.json")
    assert pod.security(side).seccomp_profile.mode() == "Localhost/profiles/audit.json"


def test_empty_values_of_unsupported_fields_are_accepted_and_not_echoed():
    pod = load(manifest(
        pod_level="{runAsUser: null, windowsOptions: {}, seLinuxOptions: {}, seccompProfile: {type: RuntimeDefault}}",
        container_level="{seLinuxOptions: null, appArmorProfile: null, readOnlyRootFilesystem: null}",
    ))
    assert pod.manifest["spec"]["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert "securityContext" not in pod.manifest["spec"]["containers"][0]  # nothing left in it


def test_stored_manifest_keeps_the_profile():
    pod = load(manifest(container_level="{seccompProfile: {type: Localhost, localhostProfile: a.json}}"))
    again = load_stored(json.dumps(pod.manifest), "stored")
    assert again.security(again.containers[0]).seccomp_profile == SeccompProfile("Localhost", "a.json")


BAD = [
    # (pod level, container level, path, message fragment)
    ("{seccompProfile: {type: Default}}", "", "spec.securityContext.seccompProfile.type",
     "must be one of RuntimeDefault, Unconfined, Localhost"),
    ("", "{seccompProfile: {type: runtimedefault}}",
     "spec.containers[0].securityContext.seccompProfile.type", "must be one of"),
    ("", "{seccompProfile: {}}", "spec.containers[0].securityContext.seccompProfile.type", "is required"),
    ("", "{seccompProfile: {localhostProfile: a.json}}",
     "spec.containers[0].securityContext.seccompProfile.type", "is required"),
    ("{seccompProfile: {type: Localhost}}", "", "spec.securityContext.seccompProfile.localhostProfile",
     "is required when type is Localhost"),
    ("", "{seccompProfile: {type: Localhost, localhostProfile: ''}}",
     "spec.containers[0].securityContext.seccompProfile.localhostProfile", "is required when type is Localhost"),
    ("", "{seccompProfile: {type: Localhost, localhostProfile: /etc/nspod/seccomp/a.json}}",
     "spec.containers[0].securityContext.seccompProfile.localhostProfile", "must be a relative path"),
    ("", "{seccompProfile: {type: Localhost, localhostProfile: ../../etc/a.json}}",
     "spec.containers[0].securityContext.seccompProfile.localhostProfile", "must not contain '..'"),
    ("{seccompProfile: {type: Localhost, localhostProfile: a/../../b.json}}", "",
     "spec.securityContext.seccompProfile.localhostProfile", "must not contain '..'"),
    ("", "{seccompProfile: {type: RuntimeDefault, localhostProfile: a.json}}",
     "spec.containers[0].securityContext.seccompProfile.localhostProfile",
     "can only be set when type is Localhost"),
    ("", "{seccompProfile: {type: 1}}", "spec.containers[0].securityContext.seccompProfile.type",
     "must be a string"),
    ("", "{seccompProfile: {type: Localhost, localhostProfile: [a]}}",
     "spec.containers[0].securityContext.seccompProfile.localhostProfile", "must be a string"),
    ("", "{seccompProfile: {type: Unconfined, profile: x}}",
     "spec.containers[0].securityContext.seccompProfile.profile", "unknown field"),
    ("", "{seccompProfile: Unconfined}", "spec.containers[0].securityContext.seccompProfile",
     "must be a mapping"),
    ("{seccompProfle: {type: Unconfined}}", "", "spec.securityContext.seccompProfle", "unknown field"),
    ("[]", "", "spec.securityContext", "must be a mapping"),
    ("", "true", "spec.containers[0].securityContext", "must be a mapping"),
    # Users and groups: 0..2147483647, as the API server validates them.
    ("{runAsUser: -1}", "", "spec.securityContext.runAsUser", "-1 must be between 0 and 2147483647, inclusive"),
    ("", "{runAsUser: 2147483648}", "spec.containers[0].securityContext.runAsUser", "must be between 0 and"),
    ("", "{runAsGroup: -5}", "spec.containers[0].securityContext.runAsGroup", "must be between 0 and"),
    ("", "{runAsUser: '1000'}", "spec.containers[0].securityContext.runAsUser", "must be an integer"),
    ("{supplementalGroups: [1, -2]}", "", "spec.securityContext.supplementalGroups[1]", "must be between"),
    ("{supplementalGroups: 5}", "", "spec.securityContext.supplementalGroups", "must be a list"),
    ("", "{runAsNonRoot: yes please}", "spec.containers[0].securityContext.runAsNonRoot", "must be a boolean"),
    ("", "{allowPrivilegeEscalation: 1}", "spec.containers[0].securityContext.allowPrivilegeEscalation",
     "must be a boolean"),
    ("", "{readOnlyRootFilesystem: 'true'}", "spec.containers[0].securityContext.readOnlyRootFilesystem",
     "must be a boolean"),
    # Capabilities: names Linux has, with or without CAP_, any case, or ALL.
    ("", "{capabilities: {add: [NET_ADMIN, CAP_BOGUS]}}", "spec.containers[0].securityContext.capabilities.add[1]",
     '"CAP_BOGUS" is not a Linux capability'),
    ("", "{capabilities: {drop: [chown, everything]}}", "spec.containers[0].securityContext.capabilities.drop[1]",
     '"everything" is not a Linux capability'),
    ("", "{capabilities: {drop: ALL}}", "spec.containers[0].securityContext.capabilities.drop", "must be a list"),
    ("", "{capabilities: {remove: [ALL]}}", "spec.containers[0].securityContext.capabilities.remove", "unknown field"),
    ("", "{capabilities: {add: [1]}}", "spec.containers[0].securityContext.capabilities.add[0]", "must be a string"),
    # Still not supported, with their own path.
    ("{fsGroup: -1}", "", "spec.securityContext.fsGroup", "-1 must be between 0 and 2147483647"),
    ("{fsGroupChangePolicy: Sometimes}", "", "spec.securityContext.fsGroupChangePolicy",
     "must be one of OnRootMismatch, Always"),
    ("{sysctls: [{name: net.ipv4.ip_forward, value: '1'}]}", "", "spec.securityContext.sysctls[0].name",
     '"net.ipv4.ip_forward" is not a safe sysctl'),
    ("{sysctls: [{name: kernel.shm_rmid_forced, value: '1'}, {name: kernel/shm_rmid_forced, value: '0'}]}", "",
     "spec.securityContext.sysctls[1].name", "Duplicate value"),
    ("{sysctls: [{name: kernel.shm_rmid_forced}]}", "", "spec.securityContext.sysctls[0].value", "required"),
    ("{sysctls: [{name: kernel.shm_rmid_forced, value: 1}]}", "", "spec.securityContext.sysctls[0].value",
     "must be a string"),
    ("{sysctls: [{name: kernel.shm_rmid_forced, value: '1', type: x}]}", "",
     "spec.securityContext.sysctls[0].type", "unknown field"),
    ("", "{sysctls: []}", "spec.containers[0].securityContext.sysctls", "unknown field"),
    ("{supplementalGroupsPolicy: Strict}", "", "spec.securityContext.supplementalGroupsPolicy", "is not supported"),
    ("", "{privileged: true, allowPrivilegeEscalation: false}",
     "spec.containers[0].securityContext.allowPrivilegeEscalation",
     "cannot set allowPrivilegeEscalation to false and privileged to true"),
    ("", "{privileged: yes please}", "spec.containers[0].securityContext.privileged", ""),
    ("", "{seLinuxOptions: {level: s0}}", "spec.containers[0].securityContext.seLinuxOptions", "is not supported"),
    ("", "{appArmorProfile: {type: RuntimeDefault}}", "spec.containers[0].securityContext.appArmorProfile",
     "is not supported"),
    # Container-level only, pod-level only.
    ("{capabilities: {add: [ALL]}}", "", "spec.securityContext.capabilities", "unknown field"),
    ("", "{supplementalGroups: [1]}", "spec.containers[0].securityContext.supplementalGroups", "unknown field"),
    ("{procMount: Unmasked}", "", "spec.securityContext.procMount", "unknown field"),
    ("", "{procMount: Masked}", "spec.containers[0].securityContext.procMount", "must be one of Default, Unmasked"),
    ("", "{procMount: 1}", "spec.containers[0].securityContext.procMount", "must be a string"),
    ("", "{procMount: Unmasked}", "spec.containers[0].securityContext.procMount",
     '"Unmasked": `hostUsers` must be false to use `Unmasked`'),
    # Fields of the other level are typos here, as the API server says.
    ("{privileged: true}", "", "spec.securityContext.privileged", "unknown field"),
    ("", "{fsGroup: 1}", "spec.containers[0].securityContext.fsGroup", "unknown field"),
]


@pytest.mark.parametrize("pod_level, container_level, path, fragment", BAD,
                         ids=[f"{b[2].rsplit('.', 1)[-1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_security_context(pod_level, container_level, path, fragment):
    found = problems(manifest(pod_level=pod_level, container_level=container_level))
    assert any(p == path and fragment in m for p, m in found), found


def test_supported_field_beside_an_unsupported_one_still_fails():
    found = problems(manifest(container_level="{seccompProfile: {type: Unconfined}, appArmorProfile: {type: x}}"))
    assert found == [("spec.containers[0].securityContext.appArmorProfile", "is not supported by nspod yet")]


def test_merge_is_field_by_field():
    pod_level = SecurityContext(seccomp_profile=SeccompProfile("Unconfined"))
    assert SecurityContext().merged_over(pod_level) == pod_level
    own = SecurityContext(seccomp_profile=SeccompProfile("RuntimeDefault"))
    assert own.merged_over(pod_level) == own


def test_fields_parse_and_merge_container_over_pod():
    pod = load(manifest(
        pod_level="{runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000, 4001], runAsNonRoot: true}",
        container_level="{runAsUser: 2000, capabilities: {add: [net_admin, CAP_SYS_TIME], drop: [all]}, "
                        "allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}",
        second_container="{}",
    ))
    app, side = pod.containers
    sc = pod.security(app)
    assert (sc.run_as_user, sc.run_as_group, sc.supplemental_groups, sc.run_as_non_root) == (2000, 3000, (4000, 4001), True)
    assert sc.capabilities == Capabilities(add=("CAP_NET_ADMIN", "CAP_SYS_TIME"), drop=("ALL",))
    assert (sc.allow_privilege_escalation, sc.read_only_root_filesystem) == (False, True)
    assert pod.security(side).run_as_user == 1000
    again = load_stored(json.dumps(pod.manifest), "stored")
    assert again.security(again.containers[0]) == sc


@pytest.mark.parametrize("name, expected", [
    ("chown", "CAP_CHOWN"), ("CHOWN", "CAP_CHOWN"), ("CAP_CHOWN", "CAP_CHOWN"), ("cap_net_raw", "CAP_NET_RAW"),
    ("Sys_Admin", "CAP_SYS_ADMIN"), ("all", "ALL"), ("ALL", "ALL"), ("CAP_ALL", None), ("", None), ("bogus", None),
])
def test_capability_names(name, expected):
    assert capabilities.canonical(name) == expected


@pytest.mark.parametrize("add, drop, expected", [
    ((), (), capabilities.DEFAULT),
    ((), ("ALL",), ()),
    (("CAP_NET_ADMIN",), ("ALL",), ("CAP_NET_ADMIN",)),                  # drop ALL, then add X: only X
    (("ALL",), (), tuple(capabilities.NUMBERS)),
    (("ALL",), ("CAP_SYS_ADMIN",), tuple(c for c in capabilities.NUMBERS if c != "CAP_SYS_ADMIN")),
    (("ALL",), ("ALL",), ()),                                            # containerd: add ALL, then drop ALL
    (("CAP_SYS_TIME",), ("CAP_SYS_TIME",), capabilities.DEFAULT),        # a name added and dropped is dropped
    ((), ("CAP_CHOWN", "CAP_KILL"), tuple(c for c in capabilities.DEFAULT if c not in ("CAP_CHOWN", "CAP_KILL"))),
])
def test_effective_capabilities(add, drop, expected):
    assert set(capabilities.effective(add, drop)) == set(expected)
    got = capabilities.effective(add, drop)
    assert list(got) == sorted(got, key=capabilities.NUMBERS.__getitem__)


def test_capability_mask_matches_proc_status():
    assert capabilities.mask(capabilities.DEFAULT) == 0xA80425FB  # CapBnd of a Docker/containerd container


def confinement(pod_level="", container_level=""):
    pod = load(manifest(pod_level=pod_level, container_level=container_level))
    return for_container(pod, pod.containers[0], "u1")


@pytest.mark.parametrize("pod_level, container_level, image_user, expected", [
    ("", "", 0, (0, 0, (0,))),                                             # a process container: root
    ("{runAsUser: 1000}", "", 0, (1000, 0, (0,))),                         # gid 0 unless runAsGroup
    ("{runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000, 3000]}", "", 0, (1000, 3000, (3000, 4000))),
    ("{runAsGroup: 3000}", "{runAsUser: 5}", 0, (5, 3000, (3000,))),
    ("", "", 1000, (1000, 0, (0,))),                                       # an image's uid no passwd names
    ("{runAsUser: 7}", "", 1000, (7, 0, (0,))),                            # runAsUser over it
])
def test_identity(pod_level, container_level, image_user, expected):
    assert confinement(pod_level, container_level).identity(image_user)[:3] == expected


def test_groups_are_merged_sorted_and_unique(inroot, tmp_path):
    """containerd's mergeGids: the gid, the image's groups of the user and
    supplementalGroups, once each, sorted (nspod-exec's lookup in the
    image's files; tests/unit/test_image_runtime.py has the rest)."""
    conf = confinement("{supplementalGroups: [9, 30]}")
    (tmp_path / "passwd").write_text("u:x:10:20::/home/u:\n")
    (tmp_path / "group").write_text("g:x:30:u\n")
    assert inroot.identity(tmp_path / "passwd", tmp_path / "group", conf.user_to_find(10), conf.run_as_group,
                           conf.supplemental_groups) == (10, 20, (9, 20, 30), "/home/u")
    assert conf.identity(10) == (10, 0, (0, 9, 30), "/")  # no image: no files to look it up in


@pytest.mark.parametrize("pod_level, container_level, image_user, message", [
    ("{runAsNonRoot: true}", "", 0,
     'container has runAsNonRoot and image will run as root (pod: "web_default(u1)", container: app)'),
    ("{runAsNonRoot: true}", "{runAsUser: 0}", 1000,
     'container\'s runAsUser breaks non-root policy (pod: "web_default(u1)", container: app)'),
])
def test_run_as_non_root_refuses_root(pod_level, container_level, image_user, message):
    with pytest.raises(NonRootRefused) as caught:
        confinement(pod_level, container_level).identity(image_user)
    assert str(caught.value) == message
    assert caught.value.reason == "CreateContainerConfigError"


@pytest.mark.parametrize("pod_level, container_level, image_user", [
    ("{runAsNonRoot: true, runAsUser: 1000}", "", 0),
    ("{runAsNonRoot: true, runAsUser: 1000}", "", "www"),       # runAsUser is checked, not the image's name
    ("{runAsNonRoot: true}", "", 1000),
    ("{runAsNonRoot: false}", "", 0),
    ("{runAsNonRoot: true}", "{runAsNonRoot: false}", 0),  # the container's wins
])
def test_run_as_non_root_allows(pod_level, container_level, image_user):
    confinement(pod_level, container_level).identity(image_user)


@pytest.mark.parametrize("container_level, no_new_privs", [
    ("", True), ("{allowPrivilegeEscalation: false}", True), ("{allowPrivilegeEscalation: true}", False),
])
def test_no_new_privs(container_level, no_new_privs):
    assert confinement(container_level=container_level).no_new_privs is no_new_privs


def test_confinement_defaults():
    conf = confinement()
    assert conf == Confinement(pod="web_default(u1)", container="app")
    assert conf.caps == capabilities.DEFAULT and not conf.read_only_root
    assert confinement(container_level="{readOnlyRootFilesystem: true}").read_only_root


ROOTLESS_MAP = {"uid": [(0, 1000, 1), (1, 100000, 65536)], "gid": [(0, 1000, 1), (1, 100000, 65536)]}
ONLY_ME = {"uid": [(0, 1000, 1)], "gid": [(0, 1000, 1)]}


def pods(pod_level="", container_level=""):
    return load_pods(manifest(pod_level=pod_level, container_level=container_level), "pod.yaml")[0]


@pytest.mark.parametrize("pod_level, container_level", [
    ("", ""), ("{runAsUser: 65536, runAsGroup: 1, supplementalGroups: [0, 65536]}", ""), ("", "{runAsUser: 0}"),
])
def test_ids_in_the_map_pass(pod_level, container_level):
    check_ids(pods(pod_level, container_level), ROOTLESS_MAP)
    check_ids(pods(pod_level, container_level), None)  # as root every id exists


@pytest.mark.parametrize("pod_level, container_level, maps, fragments", [
    ("{runAsUser: 65537}", "", ROOTLESS_MAP, ["uid 65537 does not exist", "0..65536", "/etc/subuid"]),
    ("{supplementalGroups: [70000]}", "", ROOTLESS_MAP, ["gid 70000 does not exist", "/etc/subgid"]),
    ("", "{runAsUser: 1000}", ONLY_ME, ["uid 1000 does not exist", "only uid 0 (you) exists", "/etc/subuid"]),
    ("", "{runAsGroup: 5}", ONLY_ME, ["gid 5", "without a subordinate id range"]),
])
def test_ids_outside_the_map_name_the_fix(pod_level, container_level, maps, fragments):
    with pytest.raises(HostUnsupported) as caught:
        check_ids(pods(pod_level, container_level), maps)
    assert 'pod "web", container "app"' in str(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert caught.value.exit_code == 1


def test_fs_group_joins_the_groups_before_supplemental_groups():
    pod = load(manifest(pod_level="{runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]}"))
    conf = for_container(pod, pod.containers[0])
    assert conf.identity()[:3] == (1000, 3000, (2000, 3000, 4000))
    assert conf.requested_ids() == ({1000}, {3000, 2000, 4000})
    assert pod.security_context.fs_group_change_policy is None


def test_fs_group_ownership_as_the_kubelet_sets_it(tmp_path):
    import os
    import stat

    from nspod import volumes

    vol = tmp_path / "vol"
    (vol / "sub").mkdir(parents=True)
    vol.chmod(0o777)
    (vol / "sub").chmod(0o700)
    (vol / "f").write_text("x")
    (vol / "f").chmod(0o600)
    (vol / "link").symlink_to("f")
    gid = os.getgid()  # the only group a unit test may give away
    volumes.set_ownership(vol, gid)
    assert stat.S_IMODE(os.stat(vol).st_mode) == 0o2777
    assert stat.S_IMODE(os.stat(vol / "sub").st_mode) == 0o2770
    assert stat.S_IMODE(os.stat(vol / "f").st_mode) == 0o660
    assert os.lstat(vol / "link").st_gid == gid
    (vol / "f").chmod(0o600)
    volumes.set_ownership(vol, gid, "OnRootMismatch")  # the root already matches: not walked
    assert stat.S_IMODE(os.stat(vol / "f").st_mode) == 0o600
    volumes.set_ownership(vol, gid, "Always")
    assert stat.S_IMODE(os.stat(vol / "f").st_mode) == 0o660


def test_safe_sysctls_parse_with_dots_or_slashes():
    pod = load(manifest(pod_level="{sysctls: [{name: kernel.shm_rmid_forced, value: '1'}, "
                                  "{name: net/ipv4/ip_local_port_range, value: '1024 2048'}]}"))
    assert pod.security_context.sysctls == (("kernel.shm_rmid_forced", "1"),
                                            ("net.ipv4.ip_local_port_range", "1024 2048"))


def test_net_sysctls_are_refused_with_host_network_kernel_ones_pass():
    text = manifest(pod_level="{sysctls: [{name: kernel.shm_rmid_forced, value: '1'}, "
                              "{name: net.ipv4.tcp_syncookies, value: '1'}]}").replace(
        "spec:\n", "spec:\n  hostNetwork: true\n")
    assert [p for p, _ in problems(text)] == ["spec.securityContext.sysctls[1].name"]


def test_privileged_is_every_capability_no_seccomp_no_masks():
    from nspod import capabilities
    from nspod.confinement import for_container, shown
    from nspod.seccomp import for_container as seccomp_for

    pod = load(manifest(container_level="{privileged: true}"))
    c = pod.containers[0]
    conf = for_container(pod, c)
    assert conf.privileged and set(conf.caps) == set(capabilities.NUMBERS)
    assert conf.no_new_privs is False  # privileged implies allowPrivilegeEscalation
    assert seccomp_for(pod, c, {}).mode == "Unconfined"
    assert shown(conf)["maskedPaths"] == [] and shown(conf)["privileged"] is True


def with_host_users(text, value, extra=""):
    return text.replace("spec:\n", f"spec:\n  hostUsers: {value}\n{extra}", 1)


def test_proc_mount_default_masks_unmasked_with_host_users_false_does_not():
    from nspod.confinement import shown

    default = load(manifest(container_level="{procMount: Default}"))
    conf = for_container(default, default.containers[0])
    assert conf.proc_mount == "Default" and conf.masks_kernel_paths
    assert "/proc/kcore" in shown(conf)["maskedPaths"] and "/proc/sys" in shown(conf)["readonlyPaths"]
    unmasked = load(with_host_users(manifest(container_level="{procMount: Unmasked}", second_container="{}"), "false"))
    app, side = (for_container(unmasked, c) for c in unmasked.containers)
    assert app.proc_mount == "Unmasked" and not app.masks_kernel_paths and side.masks_kernel_paths
    assert shown(app)["maskedPaths"] == [] and shown(app)["readonlyPaths"] == [] and shown(app)["procMount"] == "Unmasked"
    assert unmasked.host_users is False and unmasked.manifest["spec"]["hostUsers"] is False
    assert unmasked.manifest["spec"]["containers"][0]["securityContext"] == {"procMount": "Unmasked"}
    assert load_stored(json.dumps(unmasked.manifest), "stored") == unmasked


@pytest.mark.parametrize("host_users", ["true", "null"])
def test_unmasked_needs_host_users_false(host_users):
    found = problems(with_host_users(manifest(container_level="{procMount: Unmasked}"), host_users))
    assert found == [("spec.containers[0].securityContext.procMount",
                      '"Unmasked": `hostUsers` must be false to use `Unmasked` (set spec.hostUsers: false)')]


@pytest.mark.parametrize("field", ["hostNetwork", "hostPID", "hostIPC"])
def test_host_users_false_forbids_the_node_namespaces(field):
    found = problems(with_host_users(manifest(), "false", f"  {field}: true\n"))
    assert found == [(f"spec.{field}", "forbidden when `hostUsers` is false")]
    load(with_host_users(manifest(), "true", f"  {field}: true\n"))  # hostUsers true: allowed


def test_host_users_must_be_a_boolean():
    assert problems(with_host_users(manifest(), "'no'")) == [("spec.hostUsers", "must be a boolean (true or false)")]


def test_host_users_must_name_what_nspod_does():
    """Rootless every pod has a user namespace (false), as root none (true);
    unset is either; the other value is bad input naming the field."""
    from nspod.confinement import check_user_namespace

    pods = [load(with_host_users(manifest(), v)) for v in ("true", "false")] + [load(manifest())]
    check_user_namespace(pods[1:], rootless=True)
    check_user_namespace([pods[0], pods[2]], rootless=False)
    with pytest.raises(ManifestError) as rootless:
        check_user_namespace(pods[:1], rootless=True)
    assert rootless.value.problems[0][0] == "spec.hostUsers"
    assert "true is not possible rootless" in rootless.value.problems[0][1]
    with pytest.raises(ManifestError) as as_root:
        check_user_namespace(pods, rootless=False)
    assert as_root.value.problems == [("[1].spec.hostUsers", as_root.value.problems[0][1])]
    assert "false is not supported as root" in as_root.value.problems[0][1]
    assert as_root.value.exit_code == 2
