"""securityContext in manifests: seccompProfile at pod and container level
(the container's wins), every other field still refused with its path, and
bad seccomp values reported as the API server reports them."""

import json

import pytest

from nspod.errors import ManifestError
from nspod.spec import SeccompProfile, SecurityContext, load_pods, load_stored


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
        pod_level="{runAsUser: null, sysctls: [], seLinuxOptions: {}, seccompProfile: {type: RuntimeDefault}}",
        container_level="{capabilities: {}, privileged: false, readOnlyRootFilesystem: null}",
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
    # Every other field is not supported yet, with its own path.
    ("{runAsUser: 1000}", "", "spec.securityContext.runAsUser", "is not supported by nspod yet"),
    ("{runAsNonRoot: true}", "", "spec.securityContext.runAsNonRoot", "is not supported by nspod yet"),
    ("{fsGroup: 2000}", "", "spec.securityContext.fsGroup", "is not supported by nspod yet"),
    ("{supplementalGroups: [1]}", "", "spec.securityContext.supplementalGroups", "is not supported"),
    ("{sysctls: [{name: net.ipv4.ip_forward, value: '1'}]}", "", "spec.securityContext.sysctls",
     "is not supported"),
    ("", "{runAsUser: 0}", "spec.containers[0].securityContext.runAsUser", "is not supported by nspod yet"),
    ("", "{capabilities: {drop: [ALL]}}", "spec.containers[0].securityContext.capabilities",
     "is not supported by nspod yet"),
    ("", "{readOnlyRootFilesystem: true}", "spec.containers[0].securityContext.readOnlyRootFilesystem",
     "is not supported"),
    ("", "{allowPrivilegeEscalation: true}",
     "spec.containers[0].securityContext.allowPrivilegeEscalation", "is not supported"),
    ("", "{privileged: true}", "spec.containers[0].securityContext.privileged", "is not supported"),
    ("", "{procMount: Unmasked}", "spec.containers[0].securityContext.procMount", "is not supported"),
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
    found = problems(manifest(container_level="{seccompProfile: {type: Unconfined}, runAsNonRoot: true}"))
    assert found == [("spec.containers[0].securityContext.runAsNonRoot", "is not supported by nspod yet")]


def test_merge_is_field_by_field():
    pod_level = SecurityContext(seccomp_profile=SeccompProfile("Unconfined"))
    assert SecurityContext().merged_over(pod_level) == pod_level
    own = SecurityContext(seccomp_profile=SeccompProfile("RuntimeDefault"))
    assert own.merged_over(pod_level) == own
