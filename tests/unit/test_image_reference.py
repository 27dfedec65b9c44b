"""Image references: parsing and normalisation as containerd does it, and
Kubernetes' default imagePullPolicy (pure)."""
import pytest

from nspod.errors import BadInput
from nspod.image.errors import InvalidImageName
from nspod.image.reference import default_pull_policy, parse

D = "sha256:" + "a" * 64

NORMALISED = [
    ("busybox", "docker.io/library/busybox:latest", "busybox"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1", "busybox"),
    ("user/app", "docker.io/user/app:latest", "user/app"),
    ("user/team/app:v1.2", "docker.io/user/team/app:v1.2", "user/team/app"),
    ("localhost/app", "localhost/app:latest", "localhost/app"),
    ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app"),
    ("registry.example.com/ns/app:1", "registry.example.com/ns/app:1", "registry.example.com/ns/app"),
    ("[::1]:5000/app:v", "[::1]:5000/app:v", "[::1]:5000/app"),
    ("Registry/app", "Registry/app:latest", "Registry/app"),  # an upper-case first part is a host
    ("quay.io/a-b__c.d/e---f", "quay.io/a-b__c.d/e---f:latest", "quay.io/a-b__c.d/e---f"),
    ("busybox@" + D, "docker.io/library/busybox@" + D, "busybox"),
    ("busybox:1.36@" + D, "docker.io/library/busybox@" + D, "busybox"),  # the digest wins
    ("host:5000/app:t@" + D, "host:5000/app@" + D, "host:5000/app"),
    ("app:" + "t" * 128, "docker.io/library/app:" + "t" * 128, "app"),
]


@pytest.mark.parametrize("text,want,familiar", NORMALISED)
def test_normalised_as_containerd(text, want, familiar):
    ref = parse(text)
    assert str(ref) == want
    assert ref.familiar == familiar


def test_parts():
    ref = parse("localhost:5000/a/b:tag")
    assert (ref.domain, ref.path, ref.tag, ref.digest, ref.selector) == ("localhost:5000", "a/b", "tag", None, "tag")
    ref = parse("busybox:1@" + D)
    assert (ref.name, ref.tag, ref.selector) == ("docker.io/library/busybox", None, D)


INVALID = [
    ("", "empty"),
    ("Busybox", "lowercase"),
    ("docker.io/Library/busybox", "lowercase"),
    ("busybox:", "invalid reference format"),
    ("busybox:-tag", "invalid reference format"),
    ("busybox:" + "t" * 129, "invalid reference format"),
    ("bus//box", "invalid reference format"),
    ("/busybox", "invalid reference format"),
    ("busybox/", "invalid reference format"),
    ("bus_-box", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox@sha256:" + "g" * 64, "invalid reference format"),
    ("busybox@sha256:" + "a" * 63 + "A", "lowercase hex"),
    ("busybox@sha256:" + "a" * 40, "takes 64"),
    ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("a" * 64, "64-character hexadecimal"),
    (" busybox", "white space"),
    ("host:port/app", "invalid reference format"),
    ("x/" + "a" * 260, "longer than 255"),
    ("busybox:1@", "invalid reference format"),
    ("http://host/app", "invalid reference format"),
]


@pytest.mark.parametrize("text,message", INVALID)
def test_invalid_references_are_bad_input(text, message):
    with pytest.raises(InvalidImageName) as e:
        parse(text)
    assert message in str(e.value)
    assert isinstance(e.value, BadInput) and e.value.exit_code == 2
    assert e.value.reason == "InvalidImageName"


@pytest.mark.parametrize("text,policy", [
    ("busybox", "Always"),
    ("busybox:latest", "Always"),
    ("host:5000/app", "Always"),          # the port is not a tag
    ("busybox:1.36", "IfNotPresent"),
    ("host:5000/app:v1", "IfNotPresent"),
    ("busybox@" + D, "IfNotPresent"),
    ("busybox:1@" + D, "IfNotPresent"),
    ("busybox:latest@" + D, "Always"),    # as pkg/apis/core/v1/defaults.go judges the tag
])
def test_kubernetes_default_pull_policy(text, policy):
    assert default_pull_policy(text) == policy


def test_unparsable_reference_defaults_to_if_not_present_and_is_not_a_manifest_error():
    from nspod.spec import load_pods

    assert default_pull_policy("Bad::Name") == "IfNotPresent"  # defaults.go ignores the parse error
    pods, _ = load_pods("""
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: a, image: nginx}
  - {name: b, image: "nginx:1.27"}
  - {name: c, image: "Bad::Name"}
  - {name: d, image: "nginx@sha256:""" + "a" * 64 + """"}
""", "test")
    assert [c.image_pull_policy for c in pods[0].containers] == ["Always", "IfNotPresent", "IfNotPresent",
                                                                 "IfNotPresent"]
    assert [c["imagePullPolicy"] for c in pods[0].manifest["spec"]["containers"]] == [
        "Always", "IfNotPresent", "IfNotPresent", "IfNotPresent"]
