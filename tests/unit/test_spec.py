"""Pod manifests: what loads, what it becomes, and every kind of mistake
reported with its Kubernetes field path."""

from nspod import record
import json
import textwrap

import pytest

from nspod.errors import BadInput, ManifestError
from nspod.spec import (
    Container, EnvVar, HostAlias, Port, Resources, Volume, VolumeMount, load_pods, load_stored,
    port_conflicts,
)

MINIMAL = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    command: [sleep, "60"]
"""


def with_spec(lines):
    """MINIMAL plus spec-level lines."""
    return MINIMAL + textwrap.indent(textwrap.dedent(lines), "  ")


def with_container(lines):
    """MINIMAL plus lines in its first container."""
    return MINIMAL + textwrap.indent(textwrap.dedent(lines), "    ")


def load_one(text):
    pods, warnings = load_pods(text, "pod.yaml")
    assert len(pods) == 1
    return pods[0], warnings


def problems(text):
    with pytest.raises(ManifestError) as caught:
        load_pods(text, "pod.yaml")
    return caught.value.problems


# ---------------------------------------------------------------- good input


def test_minimal_pod_and_defaults():
    pod, warnings = load_one(MINIMAL)
    assert warnings == []
    assert pod.name == "web"
    assert pod.namespace == "default"
    assert pod.labels == {} and pod.annotations == {}
    assert pod.restart_policy == "Always"
    assert pod.termination_grace_period_seconds == 30
    assert pod.share_process_namespace is False
    assert pod.hostname is None and pod.resources is None and pod.volumes == ()
    (app,) = pod.containers
    assert app == Container(name="app", command=("sleep", "60"))
    assert app.image is None and app.image_pull_policy == "IfNotPresent"
    assert app.resources == Resources(limits={}, requests={})
    assert app.argv() == ["sleep", "60"]


def test_manifest_is_normalized_like_the_api_server():
    pod, _ = load_one(MINIMAL)
    assert pod.manifest == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "containers": [
                {"name": "app", "command": ["sleep", "60"], "imagePullPolicy": "IfNotPresent"}
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
        },
    }
    json.dumps(pod.manifest)  # inspect -o json must be able to print it


FULL = """\
apiVersion: v1
kind: Pod
metadata:
  name: shop.example
  namespace: team-a
  labels: {app: shop, app.kubernetes.io/part-of: store, empty: ""}
  annotations: {note: "anything: goes here"}
spec:
  hostname: shop
  shareProcessNamespace: true
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 5
  resources:
    limits: {cpu: "2", memory: 1Gi}
  volumes:
  - name: cache
    emptyDir: {medium: Memory, sizeLimit: 64Mi}
  - name: scratch
    emptyDir: {}
  - name: defaulted            # no source: an emptyDir, as Kubernetes does
  - name: data
    hostPath: {path: /srv/data, type: DirectoryOrCreate}
  - name: conf
    hostPath: {path: /etc/shop.conf, type: File}
  containers:
  - name: web
    image: host
    imagePullPolicy: Never
    command: [/usr/bin/python3, -m, http.server]
    args: ["$(PORT)", "--directory", "$(ROOT)"]
    workingDir: /srv
    env:
    - name: PORT
      value: "8080"
    - name: ROOT
      value: /srv/$(SITE)
    - name: EMPTY
    ports:
    - {containerPort: 8080, name: http}
    - {containerPort: 5353, protocol: UDP, name: dns}
    - {containerPort: 9000, protocol: SCTP}
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: data, mountPath: /srv/data, readOnly: true}
    - {name: conf, mountPath: /etc/shop.conf, subPath: shop.conf, readOnly: false}
    resources:
      limits: {cpu: 500m, memory: 128Mi}
      requests: {cpu: 0.25, memory: 64M}
  - name: sidecar
    image: ""
    command: [sleep, infinity]
    resources:
      requests: {cpu: 1e-1}
"""


def test_full_pod():
    pod, warnings = load_one(FULL)
    assert warnings == []
    assert (pod.name, pod.namespace, pod.hostname) == ("shop.example", "team-a", "shop")
    assert pod.labels == {"app": "shop", "app.kubernetes.io/part-of": "store", "empty": ""}
    assert pod.annotations == {"note": "anything: goes here"}
    assert pod.share_process_namespace is True
    assert pod.restart_policy == "OnFailure"
    assert pod.termination_grace_period_seconds == 5
    assert pod.resources == Resources(
        limits={"cpu": 2000, "memory": 2**30}, requests={"cpu": 2000, "memory": 2**30}
    )
    assert pod.volumes == (
        Volume("cache", "emptyDir", medium="Memory", size_limit=64 * 2**20),
        Volume("scratch", "emptyDir"),
        Volume("defaulted", "emptyDir"),
        Volume("data", "hostPath", path="/srv/data", host_path_type="DirectoryOrCreate"),
        Volume("conf", "hostPath", path="/etc/shop.conf", host_path_type="File"),
    )
    web = pod.container("web")
    assert web.image is None  # "host" means a process container
    assert web.image_pull_policy == "Never"
    assert web.working_dir == "/srv"
    assert web.env == (EnvVar("PORT", "8080"), EnvVar("ROOT", "/srv/$(SITE)"), EnvVar("EMPTY", ""))
    assert web.ports == (
        Port(8080, "TCP", "http"), Port(5353, "UDP", "dns"), Port(9000, "SCTP"),
    )
    assert web.volume_mounts == (
        VolumeMount("cache", "/cache"),
        VolumeMount("data", "/srv/data", read_only=True),
        VolumeMount("conf", "/etc/shop.conf", read_only=False, sub_path="shop.conf"),
    )
    assert web.resources == Resources(
        limits={"cpu": 500, "memory": 128 * 2**20}, requests={"cpu": 250, "memory": 64 * 10**6}
    )
    assert web.argv() == [
        "/usr/bin/python3", "-m", "http.server", "8080", "--directory", "/srv/$(SITE)",
    ]
    sidecar = pod.container("sidecar")
    assert sidecar.image is None
    assert sidecar.resources == Resources(limits={}, requests={"cpu": 100})


def test_stored_manifest_loads_to_the_same_pod():
    """The watchdog reads the stored (normalized, JSON) manifest with
    json.loads instead of PyYAML; it must get the very same Pod."""
    pod, _ = load_one(FULL)
    assert load_stored(json.dumps(pod.manifest), "pod shop.example") == pod


def test_full_pod_manifest_defaults():
    pod, _ = load_one(FULL)
    spec = pod.manifest["spec"]
    assert spec["restartPolicy"] == "OnFailure"
    web, sidecar = spec["containers"]
    assert [p["protocol"] for p in web["ports"]] == ["TCP", "UDP", "SCTP"]
    assert web["imagePullPolicy"] == "Never" and sidecar["imagePullPolicy"] == "IfNotPresent"
    assert web["resources"]["requests"] == {"cpu": "0.25", "memory": "64M"}
    assert spec["volumes"][2] == {"name": "defaulted", "emptyDir": {}}
    assert spec["volumes"][0]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}
    assert spec["volumes"][3]["hostPath"] == {"path": "/srv/data", "type": "DirectoryOrCreate"}
    assert spec["resources"]["requests"] == {"cpu": "2", "memory": "1Gi"}


def test_request_defaults_to_limit():
    pod, _ = load_one(with_container("""\
        resources:
          limits: {cpu: 1, memory: 100Mi}
          requests: {memory: 50Mi}
        """))
    resources = pod.containers[0].resources
    assert resources.limits == {"cpu": 1000, "memory": 100 * 2**20}
    assert resources.requests == {"cpu": 1000, "memory": 50 * 2**20}
    assert pod.manifest["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "1", "memory": "50Mi",
    }


def test_multiple_documents_and_empty_ones_skipped():
    second = MINIMAL.replace("name: web", "name: db")
    pods, warnings = load_pods("---\n" + MINIMAL + "---\n---\n# just a comment\n---\n" + second)
    assert [p.name for p in pods] == ["web", "db"]
    assert warnings == []


def test_same_name_in_different_namespaces_is_fine():
    other = MINIMAL.replace("name: web", "name: web\n  namespace: other")
    pods, _ = load_pods(MINIMAL + "---\n" + other)
    assert [(p.namespace, p.name) for p in pods] == [("default", "web"), ("other", "web")]


def test_json_flow_style():
    document = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "app", "command": ["true"], "ports": [{"containerPort": 80}]}],
        },
    }
    pod, _ = load_one(json.dumps(document, indent=2))
    assert pod.labels == {"app": "web"}
    assert pod.restart_policy == "Never"
    assert pod.containers[0].ports == (Port(80),)


KUBECTL_GET_OUTPUT = """\
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2024-05-01T10:00:00Z"
  name: web
  namespace: default
  resourceVersion: "4242"
  uid: 0b7d6f3e-8c4d-4a8f-9f4e-2f0f7c1f3c2a
  managedFields: [{manager: kubectl}]
spec:
  containers:
  - name: app
    image: host
    command: [sleep, "60"]
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    imagePullPolicy: IfNotPresent
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  nodeName: node-1
  nodeSelector: {disk: ssd}
  preemptionPolicy: PreemptLowerPriority
  priority: 0
  schedulerName: default-scheduler
  securityContext: {}
  serviceAccountName: default
  tolerations:
  - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute}
  hostNetwork: false
  initContainers: []
status:
  phase: Running
"""


def test_cluster_fields_give_exactly_one_warning():
    pod, warnings = load_one(KUBECTL_GET_OUTPUT)
    assert warnings == [
        'pod "web": ignoring fields that only matter to a cluster: status, '
        "metadata.creationTimestamp, metadata.resourceVersion, metadata.uid, "
        "metadata.managedFields, spec.dnsPolicy, spec.enableServiceLinks, spec.nodeName, "
        "spec.nodeSelector, spec.preemptionPolicy, spec.priority, spec.schedulerName, "
        "spec.serviceAccountName, spec.tolerations, "
        "spec.containers[0].terminationMessagePath, spec.containers[0].terminationMessagePolicy"
    ]
    (warning,) = warnings
    for path in ("metadata.uid", "spec.nodeSelector", "spec.tolerations", "status",
                 "spec.containers[0].terminationMessagePath"):
        assert path in warning
    # empty values of unsupported fields ask for nothing and are not listed
    assert "securityContext" not in warning and "hostNetwork" not in warning
    assert set(pod.manifest) == {"apiVersion", "kind", "metadata", "spec"}
    assert pod.manifest["metadata"] == {"name": "web", "namespace": "default"}
    assert set(pod.manifest["spec"]) == {"containers", "restartPolicy", "terminationGracePeriodSeconds"}
    assert "terminationMessagePath" not in pod.manifest["spec"]["containers"][0]


def test_one_warning_per_pod():
    text = KUBECTL_GET_OUTPUT + "---\n" + KUBECTL_GET_OUTPUT.replace("name: web", "name: db")
    pods, warnings = load_pods(text)
    assert len(pods) == 2
    assert [w.split(":")[0] for w in warnings] == ['pod "web"', 'pod "db"']


def test_yaml_merge_keys_may_override():
    pod, _ = load_one("""\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - &base {name: a, command: [sleep, "1"], workingDir: /tmp}
  - <<: *base
    name: b
""")
    assert [(c.name, c.working_dir) for c in pod.containers] == [("a", "/tmp"), ("b", "/tmp")]


def test_null_means_not_set():
    pod, _ = load_one(with_container("args:\nenv:\nports: null\n"))
    assert pod.containers[0].args == () and pod.containers[0].env == ()


def test_env_expansion_in_argv():
    pod, _ = load_one("""\
apiVersion: v1
kind: Pod
metadata: {name: echo}
spec:
  containers:
  - name: app
    command: [sh, -c, 'echo "$(GREETING)" $$(GREETING) $(UNSET) $$HOME']
    env:
    - {name: WHO, value: world}
    - {name: GREETING, value: "hello $(WHO) from $(LATER)"}
    - {name: LATER, value: x}
""")
    app = pod.containers[0]
    assert app.environment() == {
        "WHO": "world", "GREETING": "hello world from $(LATER)", "LATER": "x",
    }
    assert app.argv() == ["sh", "-c", 'echo "hello world from $(LATER)" $(GREETING) $(UNSET) $HOME']
    assert app.command[2].startswith('echo "$(GREETING)"')  # stored as written


def test_port_conflicts():
    pod, _ = load_one("""\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: a, command: ["true"], ports: [{containerPort: 8080}, {containerPort: 53, protocol: UDP}]}
  - {name: b, command: ["true"], ports: [{containerPort: 8080}, {containerPort: 53}]}
  - {name: c, command: ["true"], ports: [{containerPort: 53, protocol: UDP}]}
""")
    assert port_conflicts(pod) == [
        'containers "a" and "b" both declare containerPort 8080/TCP; they share one '
        "network namespace, so only one can bind it",
        'containers "a" and "c" both declare containerPort 53/UDP; they share one '
        "network namespace, so only one can bind it",
    ]


def test_host_ports_and_host_network():
    pod, _ = load_one("""\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  hostAliases:
  - {ip: 10.1.2.3, hostnames: [db, db.local]}
  - {ip: "fd00::1", hostnames: [v6]}
  containers:
  - name: a
    command: ["true"]
    ports:
    - {containerPort: 80, hostPort: 8080}
    - {containerPort: 53, hostPort: 8080, protocol: UDP}
    - {containerPort: 81, hostPort: 8081, hostIP: 127.0.0.1}
    - {containerPort: 82, hostPort: 8081, hostIP: 127.0.0.2}
    - {containerPort: 83}
""")
    assert pod.host_network is False
    assert pod.host_aliases == (HostAlias("10.1.2.3", ("db", "db.local")), HostAlias("fd00::1", ("v6",)))
    ports = pod.containers[0].ports
    assert ports[0] == Port(80, "TCP", host_port=8080)
    assert ports[2] == Port(81, "TCP", host_port=8081, host_ip="127.0.0.1")
    assert [p.container_port for _, p in pod.published_ports()] == [80, 53, 81, 82]
    assert pod.manifest["spec"]["hostAliases"][0] == {"ip": "10.1.2.3", "hostnames": ["db", "db.local"]}

    pod, _ = load_one(MINIMAL.replace("spec:\n", "spec:\n  hostNetwork: true\n") +
                      "  - {name: b, command: [x], ports: [{containerPort: 80}, {containerPort: 81, hostPort: 81}]}\n")
    assert pod.host_network is True
    # The API server defaults hostPort to containerPort on the host network.
    assert pod.manifest["spec"]["containers"][1]["ports"] == [
        {"containerPort": 80, "hostPort": 80, "protocol": "TCP"},
        {"containerPort": 81, "hostPort": 81, "protocol": "TCP"},
    ]
    assert pod.manifest["spec"]["hostNetwork"] is True


def test_no_port_conflicts():
    pod, _ = load_one(FULL)
    assert port_conflicts(pod) == []


def test_pod_container_lookup():
    pod, _ = load_one(MINIMAL)
    assert pod.container("app").name == "app"
    with pytest.raises(KeyError):
        pod.container("nope")


def test_model_is_frozen():
    pod, _ = load_one(MINIMAL)
    with pytest.raises(record.FrozenInstanceError):
        pod.name = "other"
    with pytest.raises(record.FrozenInstanceError):
        pod.containers[0].command = ()


def test_manifest_does_not_share_state_with_input():
    pods, _ = load_pods(MINIMAL)
    pods[0].manifest["spec"]["containers"][0]["command"].append("x")
    assert pods[0].containers[0].command == ("sleep", "60")


def test_a_broken_object_is_one_problem():
    assert problems(MINIMAL + "  - just-a-string\n") == [("spec.containers[1]", "must be a mapping")]


def test_every_problem_is_reported_at_once():
    found = problems(with_container("""\
        comand: [x]
        ports: [{containerPort: 0}]
        resources: {limits: {memory: 12x}}
        """).replace("name: web", "name: Web"))
    assert [path for path, _ in found] == [
        "metadata.name",
        "spec.containers[0].comand",
        "spec.containers[0].ports[0].containerPort",
        "spec.containers[0].resources.limits.memory",
    ]


def test_manifest_error_is_bad_input_with_readable_text():
    with pytest.raises(ManifestError) as caught:
        load_pods(with_container("resources: {limits: {memory: 12x}}\n"))
    assert isinstance(caught.value, BadInput) and caught.value.exit_code == 2
    assert str(caught.value) == 'spec.containers[0].resources.limits.memory: "12x" is not a quantity'


# ----------------------------------------------------------------- bad input

BAD = [
    # --- YAML and document level
    ("yaml syntax", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n labels: x\n",
     "pod.yaml:5:2", "invalid YAML"),
    ("yaml unclosed flow", "apiVersion: v1\nkind: Pod\nmetadata: {name: web\n",
     "pod.yaml:4:1", "invalid YAML"),
    ("yaml duplicate key", MINIMAL.replace("kind: Pod\n", "kind: Pod\nkind: Pod\n"),
     "pod.yaml:3:1", "duplicate key 'kind'"),
    ("no documents", "", "pod.yaml", "contains no Pod"),
    ("only empty documents", "---\n# nothing\n---\n", "pod.yaml", "contains no Pod"),
    ("document is a list", "- apiVersion: v1\n", "pod.yaml", "must be a mapping"),
    ("wrong apiVersion", MINIMAL.replace("apiVersion: v1", "apiVersion: apps/v1"),
     "apiVersion", '"apps/v1" is not supported: must be v1'),
    ("missing apiVersion", MINIMAL.replace("apiVersion: v1\n", ""), "apiVersion", "is required"),
    ("wrong kind", MINIMAL.replace("kind: Pod", "kind: Deployment"),
     "kind", "must be Pod"),
    ("top-level typo", MINIMAL + "spek: {}\n", "spek", "unknown field"),
    ("missing spec", MINIMAL.split("spec:")[0], "spec", "is required"),
    ("spec not a mapping", MINIMAL.split("spec:")[0] + "spec: [1]\n", "spec", "must be a mapping"),
    # --- metadata
    ("missing name", MINIMAL.replace("  name: web\n", "  labels: {a: b}\n"),
     "metadata.name", "is required"),
    ("missing metadata", MINIMAL.replace("metadata:\n  name: web\n", ""),
     "metadata.name", "is required"),
    ("uppercase pod name", MINIMAL.replace("name: web", "name: Web"),
     "metadata.name", "DNS-1123 subdomain"),
    ("underscore pod name", MINIMAL.replace("name: web", "name: my_pod"),
     "metadata.name", "DNS-1123 subdomain"),
    ("pod name too long", MINIMAL.replace("name: web", "name: " + "a" * 254),
     "metadata.name", "at most 253"),
    ("pod name not a string", MINIMAL.replace("name: web", "name: 42"),
     "metadata.name", "must be a string"),
    ("bad namespace", MINIMAL.replace("name: web", "name: web\n  namespace: a.b"),
     "metadata.namespace", "DNS-1123 label"),
    ("metadata typo", MINIMAL.replace("name: web", "name: web\n  lables: {a: b}"),
     "metadata.lables", "unknown field"),
    ("generateName", MINIMAL.replace("name: web", "name: web\n  generateName: web-"),
     "metadata.generateName", "is not supported by nspod yet"),
    ("bad label key", MINIMAL.replace("name: web", "name: web\n  labels: {'-app': x}"),
     "metadata.labels", 'not a valid key'),
    ("bad label key prefix", MINIMAL.replace("name: web", "name: web\n  labels: {'Ex.com/a': x}"),
     "metadata.labels", "DNS-1123 subdomain"),
    ("bad label value", MINIMAL.replace("name: web", "name: web\n  labels: {app: 'a b'}"),
     "metadata.labels.app", "not a valid label value"),
    ("label value a number", MINIMAL.replace("name: web", "name: web\n  labels: {version: 2}"),
     "metadata.labels.version", "must be a string"),
    ("annotation value a bool", MINIMAL.replace("name: web", "name: web\n  annotations: {a: yes}"),
     "metadata.annotations.a", "must be a string"),
    # --- spec
    ("empty containers", MINIMAL.split("  containers:")[0] + "  containers: []\n",
     "spec.containers", "at least one container"),
    ("missing containers", MINIMAL.split("  containers:")[0] + "  hostname: web\n",
     "spec.containers", "is required"),
    ("containers not a list", MINIMAL.split("  containers:")[0] + "  containers: {name: a}\n",
     "spec.containers", "must be a list"),
    ("spec typo", with_spec("restartPolicyy: Never\n"), "spec.restartPolicyy", "unknown field"),
    ("bad restartPolicy", with_spec("restartPolicy: Sometimes\n"),
     "spec.restartPolicy", "must be one of Always, OnFailure, Never"),
    ("negative grace period", with_spec("terminationGracePeriodSeconds: -1\n"),
     "spec.terminationGracePeriodSeconds", "greater than or equal to 0"),
    ("grace period a string", with_spec("terminationGracePeriodSeconds: '30'\n"),
     "spec.terminationGracePeriodSeconds", "must be an integer"),
    ("shareProcessNamespace not bool", with_spec("shareProcessNamespace: 'true'\n"),
     "spec.shareProcessNamespace", "must be a boolean"),
    ("bad hostname", with_spec("hostname: my.host\n"), "spec.hostname", "DNS-1123 label"),
    # --- init containers and sidecars
    ("initContainers not a list", with_spec("initContainers: {name: init}\n"),
     "spec.initContainers", "must be a list"),
    ("init container typo", with_spec("initContainers: [{name: init, command: ['true'], comand: [x]}]\n"),
     "spec.initContainers[0].comand", "unknown field"),
    ("init container without a name", with_spec("initContainers: [{command: ['true']}]\n"),
     "spec.initContainers[0].name", "is required"),
    ("init container without command", with_spec("initContainers: [{name: init}]\n"),
     "spec.initContainers[0].command", "is required for a container without an image"),
    ("init restartPolicy OnFailure",
     with_spec("initContainers: [{name: init, command: ['true'], restartPolicy: OnFailure}]\n"),
     "spec.initContainers[0].restartPolicy", "must be one of Always"),
    ("init restartPolicy Never",
     with_spec("initContainers: [{name: init, command: ['true'], restartPolicy: Never}]\n"),
     "spec.initContainers[0].restartPolicy", "must be one of Always"),
    ("init restartPolicy lower case",
     with_spec("initContainers: [{name: init, command: ['true'], restartPolicy: always}]\n"),
     "spec.initContainers[0].restartPolicy", "must be one of Always"),
    ("app container restartPolicy", with_container("restartPolicy: Always\n"),
     "spec.containers[0].restartPolicy", "is not supported by nspod yet"),
    ("init name used by an app container", with_spec("initContainers: [{name: app, command: ['true']}]\n"),
     "spec.initContainers[0].name", 'duplicate container name "app"'),
    ("duplicate init names",
     with_spec("initContainers: [{name: i, command: ['true']}, {name: i, command: ['true']}]\n"),
     "spec.initContainers[1].name", 'duplicate container name "i"'),
    ("livenessProbe on a plain init container",
     with_spec("initContainers: [{name: i, command: ['true'], livenessProbe: {exec: {command: ['true']}}}]\n"),
     "spec.initContainers[0].livenessProbe", "may not be set for init containers without restartPolicy=Always"),
    ("readinessProbe on a plain init container",
     with_spec("initContainers: [{name: i, command: ['true'], readinessProbe: {tcpSocket: {port: 80}}}]\n"),
     "spec.initContainers[0].readinessProbe", "may not be set for init containers without restartPolicy=Always"),
    ("startupProbe on a plain init container",
     with_spec("initContainers: [{name: i, command: ['true'], startupProbe: {tcpSocket: {port: 80}}}]\n"),
     "spec.initContainers[0].startupProbe", "may not be set for init containers without restartPolicy=Always"),
    ("lifecycle on a plain init container",
     with_spec("initContainers: [{name: i, command: ['true'], lifecycle: {preStop: {sleep: {seconds: 1}}}}]\n"),
     "spec.initContainers[0].lifecycle", "may not be set for init containers without restartPolicy=Always"),
    ("init volumeMount of no volume",
     with_spec("initContainers: [{name: i, command: ['true'], volumeMounts: [{name: v, mountPath: /v}]}]\n"),
     "spec.initContainers[0].volumeMounts[0].name", 'volume "v" is not declared'),
    ("init memory limit", with_spec("initContainers: [{name: i, command: ['true'], resources: {limits: {memory: 12x}}}]\n"),
     "spec.initContainers[0].resources.limits.memory", "12x"),
    ("init procMount Unmasked without hostUsers false",
     with_spec("initContainers: [{name: i, command: ['true'], securityContext: {procMount: Unmasked}}]\n"),
     "spec.initContainers[0].securityContext.procMount", "`hostUsers` must be false"),
    ("init hostPort clashes with an app's",
     MINIMAL.replace("command: [sleep, \"60\"]", "command: [sleep, \"60\"]\n    ports: [{containerPort: 80, hostPort: 8080}]")
     + "  initContainers: [{name: i, command: ['true'], restartPolicy: Always, ports: [{containerPort: 81, hostPort: 8080}]}]\n",
     "spec.containers[0].ports[0].hostPort", "is already published by spec.initContainers[0].ports[0]"),
    ("hostNetwork not bool", with_spec("hostNetwork: 'yes'\n"), "spec.hostNetwork", "must be a boolean"),
    ("hostPort differs on hostNetwork",
     MINIMAL.replace("spec:\n", "spec:\n  hostNetwork: true\n")
     + "  - {name: b, command: [x], ports: [{containerPort: 80, hostPort: 8080}]}\n",
     "spec.containers[1].ports[0].hostPort", "must match containerPort (80) when hostNetwork is true"),
    ("hostAliases not a list", with_spec("hostAliases: {ip: 1.2.3.4}\n"), "spec.hostAliases", "must be a list"),
    ("hostAliases bad ip", with_spec("hostAliases: [{ip: 1.2.3, hostnames: [a]}]\n"),
     "spec.hostAliases[0].ip", '"1.2.3" is not a valid IP address'),
    ("hostAliases missing ip", with_spec("hostAliases: [{hostnames: [a]}]\n"),
     "spec.hostAliases[0].ip", "is required"),
    ("hostAliases bad hostname", with_spec("hostAliases: [{ip: 1.2.3.4, hostnames: [a_b]}]\n"),
     "spec.hostAliases[0].hostnames[0]", "DNS-1123 subdomain"),
    ("hostAliases hostnames a string", with_spec("hostAliases: [{ip: 1.2.3.4, hostnames: a}]\n"),
     "spec.hostAliases[0].hostnames", "must be a list of strings"),
    ("hostAliases typo", with_spec("hostAliases: [{ip: 1.2.3.4, hostname: [a]}]\n"),
     "spec.hostAliases[0].hostname", "unknown field"),
    ("dnsConfig", with_spec("dnsConfig: {nameservers: [1.1.1.1]}\n"), "spec.dnsConfig", "not supported"),
    ("pod securityContext", with_spec("securityContext: {seLinuxOptions: {level: s0}}\n"),
     "spec.securityContext.seLinuxOptions", "is not supported by nspod yet"),
    ("activeDeadlineSeconds zero", with_spec("activeDeadlineSeconds: 0\n"),
     "spec.activeDeadlineSeconds", "must be between 1 and 2147483647, inclusive"),
    ("activeDeadlineSeconds negative", with_spec("activeDeadlineSeconds: -5\n"),
     "spec.activeDeadlineSeconds", "must be between 1 and 2147483647, inclusive"),
    ("activeDeadlineSeconds too big", with_spec("activeDeadlineSeconds: 2147483648\n"),
     "spec.activeDeadlineSeconds", "must be between 1 and 2147483647, inclusive"),
    ("activeDeadlineSeconds a string", with_spec("activeDeadlineSeconds: '60'\n"),
     "spec.activeDeadlineSeconds", "must be an integer"),
    # --- lifecycle hooks
    ("lifecycle typo", with_container("lifecycle: {postStrat: {exec: {command: [x]}}}\n"),
     "spec.containers[0].lifecycle.postStrat", "unknown field"),
    ("lifecycle not a mapping", with_container("lifecycle: [postStart]\n"),
     "spec.containers[0].lifecycle", "must be a mapping"),
    ("lifecycle stopSignal", with_container("lifecycle: {stopSignal: SIGUSR1}\n"),
     "spec.containers[0].lifecycle.stopSignal", "is not supported by nspod yet"),
    ("hook without handler", with_container("lifecycle: {postStart: {}}\n"),
     "spec.containers[0].lifecycle.postStart", "must specify a handler type"),
    ("hook handler typo", with_container("lifecycle: {preStop: {exek: {command: [x]}}}\n"),
     "spec.containers[0].lifecycle.preStop.exek", "unknown field"),
    ("hook two handlers", with_container("lifecycle: {preStop: {exec: {command: [x]}, sleep: {seconds: 1}}}\n"),
     "spec.containers[0].lifecycle.preStop.sleep", "may not specify more than 1 handler type"),
    ("hook tcpSocket", with_container("lifecycle: {preStop: {tcpSocket: {port: 80}}}\n"),
     "spec.containers[0].lifecycle.preStop.tcpSocket", "is not supported as a lifecycle handler"),
    ("hook exec without command", with_container("lifecycle: {postStart: {exec: {}}}\n"),
     "spec.containers[0].lifecycle.postStart.exec.command", "is required"),
    ("hook exec empty command", with_container("lifecycle: {postStart: {exec: {command: []}}}\n"),
     "spec.containers[0].lifecycle.postStart.exec.command", "is required"),
    ("hook exec command a string", with_container("lifecycle: {postStart: {exec: {command: 'touch /x'}}}\n"),
     "spec.containers[0].lifecycle.postStart.exec.command", "must be a list of strings"),
    ("hook exec typo", with_container("lifecycle: {postStart: {exec: {cmd: [x]}}}\n"),
     "spec.containers[0].lifecycle.postStart.exec.cmd", "unknown field"),
    ("hook httpGet without port", with_container("lifecycle: {postStart: {httpGet: {path: /}}}\n"),
     "spec.containers[0].lifecycle.postStart.httpGet.port", "is required"),
    ("hook httpGet port zero", with_container("lifecycle: {postStart: {httpGet: {port: 0}}}\n"),
     "spec.containers[0].lifecycle.postStart.httpGet.port", "must be between 1 and 65535, inclusive"),
    ("hook httpGet port too big", with_container("lifecycle: {preStop: {httpGet: {port: '70000'}}}\n"),
     "spec.containers[0].lifecycle.preStop.httpGet.port", "must be between 1 and 65535, inclusive"),
    ("hook httpGet bad port name", with_container("lifecycle: {postStart: {httpGet: {port: Web_Port}}}\n"),
     "spec.containers[0].lifecycle.postStart.httpGet.port", "is not a valid port name"),
    ("hook httpGet port a list", with_container("lifecycle: {postStart: {httpGet: {port: [80]}}}\n"),
     "spec.containers[0].lifecycle.postStart.httpGet.port", "must be a port number or a port name"),
    ("hook httpGet bad scheme", with_container("lifecycle: {postStart: {httpGet: {port: 80, scheme: http}}}\n"),
     "spec.containers[0].lifecycle.postStart.httpGet.scheme", "must be one of HTTP, HTTPS"),
    ("hook httpGet typo", with_container("lifecycle: {postStart: {httpGet: {port: 80, headers: []}}}\n"),
     "spec.containers[0].lifecycle.postStart.httpGet.headers", "unknown field"),
    ("hook httpGet bad header name",
     with_container("lifecycle: {postStart: {httpGet: {port: 80, httpHeaders: [{name: 'X A', value: b}]}}}\n"),
     "spec.containers[0].lifecycle.postStart.httpGet.httpHeaders[0].name", "is not a valid HTTP header name"),
    ("hook httpGet header without name",
     with_container("lifecycle: {postStart: {httpGet: {port: 80, httpHeaders: [{value: b}]}}}\n"),
     "spec.containers[0].lifecycle.postStart.httpGet.httpHeaders[0].name", "is required"),
    ("hook httpGet path a number", with_container("lifecycle: {postStart: {httpGet: {port: 80, path: 5}}}\n"),
     "spec.containers[0].lifecycle.postStart.httpGet.path", "must be a string"),
    ("hook sleep without seconds", with_container("lifecycle: {preStop: {sleep: {}}}\n"),
     "spec.containers[0].lifecycle.preStop.sleep.seconds", "is required"),
    ("hook sleep negative", with_container("lifecycle: {preStop: {sleep: {seconds: -1}}}\n"),
     "spec.containers[0].lifecycle.preStop.sleep", "must be non-negative and less than terminationGracePeriodSeconds (30)"),
    ("hook sleep longer than the grace period",
     with_container("lifecycle: {preStop: {sleep: {seconds: 11}}}\n") + "  terminationGracePeriodSeconds: 10\n",
     "spec.containers[0].lifecycle.preStop.sleep", "less than terminationGracePeriodSeconds (10)"),
    ("hook sleep a string", with_container("lifecycle: {postStart: {sleep: {seconds: '5'}}}\n"),
     "spec.containers[0].lifecycle.postStart.sleep.seconds", "must be an integer"),
    ("pod resources bad key", with_spec("resources: {limits: {memroy: 1Gi}}\n"),
     "spec.resources.limits.memroy", "unknown resource"),
    # --- containers
    ("missing container name", MINIMAL.replace("  - name: app\n    command", "  - command"),
     "spec.containers[0].name", "is required"),
    ("bad container name", MINIMAL.replace("name: app", "name: App_1"),
     "spec.containers[0].name", "DNS-1123 label"),
    ("container name too long", MINIMAL.replace("name: app", "name: " + "a" * 64),
     "spec.containers[0].name", "at most 63"),
    ("duplicate container names", MINIMAL + "  - name: app\n    command: ['true']\n",
     "spec.containers[1].name", 'duplicate container name "app"'),
    ("container typo", with_container("comand: [sleep]\n"),
     "spec.containers[0].comand", "unknown field"),
    ("container not a mapping", MINIMAL + "  - just-a-string\n",
     "spec.containers[1]", "must be a mapping"),
    ("args a string", with_container("args: sleep 10\n"),
     "spec.containers[0].args", "must be a list of strings"),
    ("args with a number", with_container("args: [sleep, 10]\n"),
     "spec.containers[0].args", "must be a list of strings"),
    ("command a string", MINIMAL.replace('[sleep, "60"]', '"sleep 60"'),
     "spec.containers[0].command", "must be a list of strings"),
    ("missing command", MINIMAL.replace('    command: [sleep, "60"]\n', ""),
     "spec.containers[0].command", "is required for a container without an image"),
    ("empty command", MINIMAL.replace('[sleep, "60"]', "[]"),
     "spec.containers[0].command", "is required for a container without an image"),
    ("image with white space", with_container("image: ' nginx:1.25'\n"), "spec.containers[0].image",
     "must not have leading or trailing whitespace"),
    ("bad imagePullPolicy", with_container("imagePullPolicy: Sometimes\n"),
     "spec.containers[0].imagePullPolicy", "must be one of Always, IfNotPresent, Never"),
    ("relative workingDir", with_container("workingDir: srv\n"),
     "spec.containers[0].workingDir", "absolute path"),
    ("grpc probe", with_container("livenessProbe: {grpc: {port: 9000}}\n"),
     "spec.containers[0].livenessProbe.grpc", "grpc probes are not supported yet"),
    ("container securityContext", with_container("securityContext: {seLinuxOptions: {level: s0}}\n"),
     "spec.containers[0].securityContext.seLinuxOptions", "is not supported by nspod yet"),
    ("tty a string", with_container("tty: 'yes'\n"), "spec.containers[0].tty", "must be a boolean"),
    ("stdinOnce a number", with_container("stdinOnce: 1\n"), "spec.containers[0].stdinOnce", "must be a boolean"),
    ("container restartPolicy", with_container("restartPolicy: Always\n"),
     "spec.containers[0].restartPolicy", "not supported"),
    ("envFrom", with_container("envFrom: [{configMapRef: {name: x}}]\n"),
     "spec.containers[0].envFrom", "not supported"),
    # --- env
    ("env valueFrom", with_container("env: [{name: A, valueFrom: {fieldRef: {fieldPath: x}}}]\n"),
     "spec.containers[0].env[0].valueFrom", "is not supported by nspod yet"),
    ("env value a number", with_container("env: [{name: PORT, value: 8080}]\n"),
     "spec.containers[0].env[0].value", "must be a string"),
    ("env bad name", with_container("env: [{name: 1ST, value: x}]\n"),
     "spec.containers[0].env[0].name", "not a valid environment variable name"),
    ("env missing name", with_container("env: [{value: x}]\n"),
     "spec.containers[0].env[0].name", "is required"),
    ("env not a list", with_container("env: {A: b}\n"), "spec.containers[0].env", "must be a list"),
    # --- ports
    ("port too big", with_container("ports: [{containerPort: 70000}]\n"),
     "spec.containers[0].ports[0].containerPort", "between 1 and 65535"),
    ("port zero", with_container("ports: [{containerPort: 0}]\n"),
     "spec.containers[0].ports[0].containerPort", "between 1 and 65535"),
    ("port a string", with_container("ports: [{containerPort: '80'}]\n"),
     "spec.containers[0].ports[0].containerPort", "must be an integer"),
    ("port a bool", with_container("ports: [{containerPort: true}]\n"),
     "spec.containers[0].ports[0].containerPort", "must be an integer"),
    ("port missing", with_container("ports: [{name: http}]\n"),
     "spec.containers[0].ports[0].containerPort", "is required"),
    ("port typo", with_container("ports: [{containerport: 80}]\n"),
     "spec.containers[0].ports[0].containerport", "unknown field"),
    ("bad protocol", with_container("ports: [{containerPort: 80, protocol: HTTP}]\n"),
     "spec.containers[0].ports[0].protocol", "must be one of TCP, UDP, SCTP"),
    ("hostPort too big", with_container("ports: [{containerPort: 80, hostPort: 65536}]\n"),
     "spec.containers[0].ports[0].hostPort", "between 1 and 65535"),
    ("hostPort zero", with_container("ports: [{containerPort: 80, hostPort: 0}]\n"),
     "spec.containers[0].ports[0].hostPort", "between 1 and 65535"),
    ("hostPort a string", with_container("ports: [{containerPort: 80, hostPort: '8080'}]\n"),
     "spec.containers[0].ports[0].hostPort", "must be an integer"),
    ("hostPort SCTP", with_container("ports: [{containerPort: 80, hostPort: 8080, protocol: SCTP}]\n"),
     "spec.containers[0].ports[0].hostPort", "publishing a SCTP port is not supported by nspod yet"),
    ("hostIP not an IP", with_container("ports: [{containerPort: 80, hostPort: 8080, hostIP: localhost}]\n"),
     "spec.containers[0].ports[0].hostIP", '"localhost" is not a valid IP address'),
    ("hostIP IPv6", with_container("ports: [{containerPort: 80, hostPort: 8080, hostIP: '::1'}]\n"),
     "spec.containers[0].ports[0].hostIP", "IPv6 hostIP is not supported by nspod yet"),
    ("hostPort twice in a pod",
     MINIMAL + "    ports: [{containerPort: 80, hostPort: 8080}]\n"
     "  - {name: b, command: [x], ports: [{containerPort: 81, hostPort: 8080, hostIP: 127.0.0.1}]}\n",
     "spec.containers[1].ports[0].hostPort", "8080/TCP is already published by spec.containers[0].ports[0]"),
    ("bad port name", with_container("ports: [{containerPort: 80, name: HTTP}]\n"),
     "spec.containers[0].ports[0].name", "not a valid port name"),
    ("port name too long", with_container("ports: [{containerPort: 80, name: abcdefghijklmnop}]\n"),
     "spec.containers[0].ports[0].name", "at most 15"),
    ("duplicate port names",
     with_container("ports: [{containerPort: 80, name: web}, {containerPort: 81, name: web}]\n"),
     "spec.containers[0].ports[1].name", 'duplicate port name "web"'),
    # --- resources
    ("bad quantity", with_container("resources: {limits: {memory: 12x}}\n"),
     "spec.containers[0].resources.limits.memory", '"12x" is not a quantity'),
    ("quantity a list", with_container("resources: {requests: {cpu: [1]}}\n"),
     "spec.containers[0].resources.requests.cpu", "must be a quantity"),
    ("negative quantity", with_container("resources: {limits: {cpu: -1}}\n"),
     "spec.containers[0].resources.limits.cpu", "greater than or equal to 0"),
    ("request above limit", with_container("resources: {limits: {cpu: 500m}, requests: {cpu: 1}}\n"),
     "spec.containers[0].resources.requests.cpu",
     "must be less than or equal to cpu limit of 500m"),
    ("memory request above limit",
     with_container("resources: {limits: {memory: 1Gi}, requests: {memory: 2Gi}}\n"),
     "spec.containers[0].resources.requests.memory", "memory limit of 1Gi"),
    ("ephemeral-storage", with_container("resources: {limits: {ephemeral-storage: 1Gi}}\n"),
     "spec.containers[0].resources.limits.ephemeral-storage", "is not supported by nspod yet"),
    ("hugepages", with_container("resources: {limits: {hugepages-2Mi: 10Mi}}\n"),
     "spec.containers[0].resources.limits.hugepages-2Mi", "not supported"),
    ("gpu", with_container("resources: {limits: {nvidia.com/gpu: 1}}\n"),
     "spec.containers[0].resources.limits.nvidia.com/gpu", "not supported"),
    ("resources typo", with_container("resources: {limit: {cpu: 1}}\n"),
     "spec.containers[0].resources.limit", "unknown field"),
    # --- volumes and mounts
    ("configMap volume", with_spec("volumes: [{name: conf, configMap: {name: conf}}]\n"),
     "spec.volumes[0].configMap", "is not supported by nspod yet"),
    ("empty secret volume", with_spec("volumes: [{name: s, secret: {}}]\n"),
     "spec.volumes[0].secret", "not supported"),
    ("two sources", with_spec("volumes: [{name: v, emptyDir: {}, hostPath: {path: /x}}]\n"),
     "spec.volumes[0]", "has 2 sources"),
    ("volume typo", with_spec("volumes: [{name: v, emptyDir: {sizelimit: 1Gi}}]\n"),
     "spec.volumes[0].emptyDir.sizelimit", "unknown field"),
    ("unknown volume source", with_spec("volumes: [{name: v, emtpyDir: {}}]\n"),
     "spec.volumes[0].emtpyDir", "unknown field"),
    ("volume missing name", with_spec("volumes: [{emptyDir: {}}]\n"),
     "spec.volumes[0].name", "is required"),
    ("bad volume name", with_spec("volumes: [{name: My_Vol}]\n"),
     "spec.volumes[0].name", "DNS-1123 label"),
    ("duplicate volume names", with_spec("volumes: [{name: v}, {name: v}]\n"),
     "spec.volumes[1].name", 'duplicate volume name "v"'),
    ("bad sizeLimit", with_spec("volumes: [{name: v, emptyDir: {sizeLimit: lots}}]\n"),
     "spec.volumes[0].emptyDir.sizeLimit", '"lots" is not a quantity'),
    ("bad medium", with_spec("volumes: [{name: v, emptyDir: {medium: Disk}}]\n"),
     "spec.volumes[0].emptyDir.medium", 'must be one of "" (the default), Memory'),
    ("hugepages medium", with_spec("volumes: [{name: v, emptyDir: {medium: HugePages}}]\n"),
     "spec.volumes[0].emptyDir.medium", "not supported"),
    ("hostPath Socket", with_spec("volumes: [{name: v, hostPath: {path: /run/x.sock, type: Socket}}]\n"),
     "spec.volumes[0].hostPath.type", "Socket is not supported by nspod yet"),
    ("hostPath bad type", with_spec("volumes: [{name: v, hostPath: {path: /x, type: Dir}}]\n"),
     "spec.volumes[0].hostPath.type", "must be one of"),
    ("hostPath relative", with_spec("volumes: [{name: v, hostPath: {path: data}}]\n"),
     "spec.volumes[0].hostPath.path", "absolute path"),
    ("hostPath missing path", with_spec("volumes: [{name: v, hostPath: {type: File}}]\n"),
     "spec.volumes[0].hostPath.path", "is required"),
    ("hostPath with ..", with_spec("volumes: [{name: v, hostPath: {path: /srv/../etc}}]\n"),
     "spec.volumes[0].hostPath.path", "must not contain '..'"),
    ("mount of undeclared volume", with_container("volumeMounts: [{name: data, mountPath: /data}]\n"),
     "spec.containers[0].volumeMounts[0].name", 'volume "data" is not declared in spec.volumes'),
    ("relative mountPath",
     with_container("volumeMounts: [{name: v, mountPath: data}]\n") + "  volumes: [{name: v}]\n",
     "spec.containers[0].volumeMounts[0].mountPath", "absolute path"),
    ("mountPath with colon",
     with_container("volumeMounts: [{name: v, mountPath: '/a:b'}]\n") + "  volumes: [{name: v}]\n",
     "spec.containers[0].volumeMounts[0].mountPath", "must not contain ':'"),
    ("missing mountPath", with_container("volumeMounts: [{name: v}]\n") + "  volumes: [{name: v}]\n",
     "spec.containers[0].volumeMounts[0].mountPath", "is required"),
    ("duplicate mountPath",
     with_container("volumeMounts: [{name: v, mountPath: /d}, {name: w, mountPath: /d/}]\n")
     + "  volumes: [{name: v}, {name: w}]\n",
     "spec.containers[0].volumeMounts[1].mountPath", "must be unique"),
    ("subPath with ..",
     with_container("volumeMounts: [{name: v, mountPath: /d, subPath: a/../../b}]\n")
     + "  volumes: [{name: v}]\n",
     "spec.containers[0].volumeMounts[0].subPath", "must not contain '..'"),
    ("absolute subPath",
     with_container("volumeMounts: [{name: v, mountPath: /d, subPath: /etc}]\n")
     + "  volumes: [{name: v}]\n",
     "spec.containers[0].volumeMounts[0].subPath", "must be a relative path"),
    ("readOnly a string",
     with_container("volumeMounts: [{name: v, mountPath: /d, readOnly: 'yes'}]\n")
     + "  volumes: [{name: v}]\n",
     "spec.containers[0].volumeMounts[0].readOnly", "must be a boolean"),
    ("mountPropagation",
     with_container("volumeMounts: [{name: v, mountPath: /d, mountPropagation: Bidirectional}]\n")
     + "  volumes: [{name: v}]\n",
     "spec.containers[0].volumeMounts[0].mountPropagation", "not supported"),
    # --- several documents
    ("problem in second document", MINIMAL + "---\n" + with_container("comand: [x]\n").replace("web", "db"),
     "[1].spec.containers[0].comand", "unknown field"),
    ("duplicate pods", MINIMAL + "---\n" + MINIMAL,
     "[1].metadata.name", 'duplicate pod "web" in namespace "default"'),
    ("second document not a pod", MINIMAL + "---\njust text\n", "[1]", "must be a mapping"),
]


@pytest.mark.parametrize("text, path, fragment", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_manifest(text, path, fragment):
    found = problems(text)
    assert any(p == path and fragment in m for p, m in found), found


def test_bad_table_is_big_enough():
    assert len(BAD) >= 30


def test_stdin_stdin_once_and_tty_are_parsed_and_false_is_left_out():
    pod, _ = load_one(with_container("stdin: true\nstdinOnce: true\ntty: true\n"))
    c = pod.containers[0]
    assert (c.stdin, c.stdin_once, c.tty) == (True, True, True)
    assert {k: pod.manifest["spec"]["containers"][0][k] for k in ("stdin", "stdinOnce", "tty")} == {
        "stdin": True, "stdinOnce": True, "tty": True}
    pod, _ = load_one(with_container("stdin: false\ntty: false\n"))
    c = pod.containers[0]
    assert (c.stdin, c.stdin_once, c.tty) == (False, False, False)
    assert not {"stdin", "stdinOnce", "tty"} & set(pod.manifest["spec"]["containers"][0])  # as the API server
