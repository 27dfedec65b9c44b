"""Images against a REAL registry: Debian's docker-registry on 127.0.0.1,
images built and pushed here with the registry's HTTP API, pulled by the
real CLI (nspod pull / images / rmi / image prune) as an unprivileged user."""
import base64
import json
import os
import subprocess
import sys
import threading

import pytest

from imagetest import (FakeRegistry, ForwardProxy, Image, Registry, TokenService, htpasswd_line, sha256,
                       tar_layer)

NSPOD = [sys.executable, "-m", "nspod.cli"]

BASE = {"bin/hello": b"#!/bin/sh\necho hello\n", "etc": None, "etc/gone": b"old", "etc/kept": b"kept",
        "data": None, "data/old": b"1", "data/sub": None, "data/sub/x": b"2", "lib": ("symlink", "usr/lib")}
TOP = {"etc/.wh.gone": b"", "data": None, "data/.wh..wh..opq": b"", "data/new": b"3", "etc/added": b"4"}
CONFIG = {"Entrypoint": ["/bin/hello"], "Cmd": ["--loud"], "Env": ["PATH=/bin", "A=1"],
          "WorkingDir": "/data", "User": "33:33"}


@pytest.fixture
def env(tmp_path):
    """The environment of a CLI run: its own image store, config, credentials and state."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (tmp_path / "config" / "nspod").mkdir(parents=True)
    e = {k: v for k, v in os.environ.items()
         if k not in ("NSPOD_IMAGE_DIR", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR")}
    e.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
             DOCKER_CONFIG=str(tmp_path / "docker"), NSPOD_STATE_DIR=str(state))
    return e


def nspod(env, *args, check=True, timeout=120):
    done = subprocess.run(NSPOD + list(args), env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"nspod {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def store(env):
    from nspod.image.store import ImageStore

    return ImageStore(os.path.join(env["XDG_DATA_HOME"], "nspod", "images"))


@pytest.fixture
def registry(tmp_path):
    r = Registry(tmp_path / "registry").start()
    yield r
    r.stop()


def test_pull_two_layer_image_with_whiteouts_then_flatten(registry, env, tmp_path):
    image = registry.push("test/app", "v1", Image([BASE, TOP], CONFIG))
    ref = f"{registry.netloc}/test/app:v1"
    done = nspod(env, "pull", ref)
    assert done.stdout.strip() == image.config_digest.partition(":")[2]
    assert "Trying to pull" in done.stderr
    for digest in image.layer_digests:   # not a terminal: one line per layer
        assert f"Copying blob {digest[7:19]} done" in done.stderr

    listed = nspod(env, "images").stdout.splitlines()
    assert listed[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = listed[1].split()
    assert row[:3] == [f"{registry.netloc}/test/app", "v1", image.config_digest[7:19]]
    assert "ago" in listed[1] and listed[1].rstrip().endswith("B")

    s = store(env)
    from nspod.image.reference import parse

    img = s.lookup(parse(ref))
    assert img["config"] == CONFIG and img["digest"] == image.digest
    assert all(s.has_blob(d) for d in image.layer_digests + [image.config_digest, image.digest])
    assert os.stat(s.root).st_mode & 0o777 == 0o700

    from nspod.image import api

    dest = tmp_path / "rootfs"
    api.rootfs(ref, str(dest), store=s)
    assert (dest / "bin" / "hello").read_bytes() == BASE["bin/hello"]
    assert sorted(os.listdir(dest / "etc")) == ["added", "kept"]         # .wh.gone applied
    assert sorted(os.listdir(dest / "data")) == ["new"]                 # opaque directory
    assert os.readlink(dest / "lib") == "usr/lib"
    assert os.access(dest / "bin" / "hello", os.X_OK)


def test_second_pull_downloads_nothing_and_http_proxy_is_not_used_for_loopback(registry, env):
    image = registry.push("test/app", "v1", Image([BASE]))
    ref = f"{registry.netloc}/test/app:v1"
    nspod(env, "pull", ref)
    env = dict(env, HTTP_PROXY="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="")
    done = nspod(env, "pull", ref)
    assert "skipped: already exists" in done.stderr
    assert registry.blob_gets(image.layer_digests[0]) == 1


def test_http_proxy_from_the_environment_is_used(registry, env):
    """A registry that is not loopback goes through HTTP_PROXY (here a proxy on
    loopback that forwards to the test registry; the name never resolves)."""
    image = registry.push("test/app", "v1", Image([BASE]))
    proxy = ForwardProxy(registry.netloc).start()
    try:
        with open(os.path.join(env["XDG_CONFIG_HOME"], "nspod", "config.toml"), "w") as f:
            f.write('insecure_registries = ["registry.nspod.test:5000"]\n')
        e = dict(env, http_proxy=f"http://127.0.0.1:{proxy.port}", no_proxy="other.example")
        done = nspod(e, "pull", "registry.nspod.test:5000/test/app:v1")
        assert done.stdout.strip() == image.config_digest[7:]
        assert any(p.startswith("http://registry.nspod.test:5000/v2/test/app/manifests/v1") for p in proxy.requests)
        assert any(f"/blobs/{image.layer_digests[0]}" in p for p in proxy.requests)
    finally:
        proxy.stop()


def test_multi_arch_index_picks_this_machine_and_pull_by_digest(registry, env):
    ours = Image([{"which": b"ours"}])
    other = Image([{"which": b"other"}], architecture="s390x" if ours.architecture != "s390x" else "arm64")
    attestation = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": other.digest,
                   "size": len(other.manifest), "platform": {"os": "unknown", "architecture": "unknown"}}
    index_digest = registry.push_index("test/multi", "1.0", [other, ours], extra=[attestation])
    done = nspod(env, "pull", f"{registry.netloc}/test/multi:1.0")
    assert done.stdout.strip() == ours.config_digest[7:]
    assert registry.blob_gets(other.layer_digests[0]) == 0
    # By the index's digest: the same image, known under that digest too.
    done = nspod(env, "pull", f"{registry.netloc}/test/multi@{index_digest}")
    assert done.stdout.strip() == ours.config_digest[7:]
    from nspod.image.reference import parse

    assert store(env).lookup(parse(f"{registry.netloc}/test/multi@{index_digest}"))["digest"] == ours.digest
    # A Docker v2 manifest pulled by its own digest.
    docker = registry.push("test/docker", "x", Image([{"d": b"docker"}], media_type=
                                                     "application/vnd.docker.distribution.manifest.v2+json"))
    done = nspod(env, "pull", f"{registry.netloc}/test/docker@{docker.digest}")
    assert done.stdout.strip() == docker.config_digest[7:]
    rows = [line.split() for line in nspod(env, "images").stdout.splitlines()[1:]]
    assert [f"{registry.netloc}/test/docker", "<none>", docker.config_digest[7:19]] in [r[:3] for r in rows]


def test_only_another_platform_is_an_error(registry, env):
    other = Image([{"x": b"x"}], architecture="s390x")
    registry.push_index("test/other", "1", [other])
    done = nspod(env, "pull", f"{registry.netloc}/test/other:1", check=False)
    assert done.returncode == 1
    assert "no image for linux/" in done.stderr and "linux/s390x" in done.stderr


def test_concurrent_pulls_download_each_blob_once(registry, env):
    big = {"big": os.urandom(6 << 20)}
    image = registry.push("test/big", "1", Image([big, {"small": b"s"}]))
    ref = f"{registry.netloc}/test/big:1"
    procs = [subprocess.Popen(NSPOD + ["pull", ref], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert {o[0].strip() for o in outs} == {image.config_digest[7:]}
    for digest in image.layer_digests + [image.config_digest]:
        assert registry.blob_gets(digest) == 1, digest
    s = store(env)
    assert os.listdir(s.root / "tmp") == [] and os.listdir(s.root / "locks") == []


def test_bad_references_are_exit_2_and_unreachable_registry_exit_1(env):
    done = nspod(env, "pull", "Bad:Ref:x", check=False)
    assert done.returncode == 2 and "invalid reference format" in done.stderr
    from imagetest import free_port

    done = nspod(env, "pull", f"127.0.0.1:{free_port()}/nothing:1", check=False)
    assert done.returncode == 1 and "cannot reach registry" in done.stderr


def test_unknown_tag_is_exit_1(registry, env):
    done = nspod(env, "pull", f"{registry.netloc}/test/none:1", check=False)
    assert done.returncode == 1 and "not found" in done.stderr


def test_digest_mismatch_is_refused_and_nothing_is_stored(env):
    layer, diff_id = tar_layer({"f": b"good"})
    config = json.dumps({"architecture": Image([]).architecture, "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha256(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": sha256(layer), "size": len(layer)}]}).encode()
    evil = bytes(b ^ 0xFF for b in layer)  # same size, other bytes
    fake = FakeRegistry({
        "/v2/": (200, {}, b"{}"),
        "/v2/x/manifests/1": (200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, manifest),
        f"/v2/x/blobs/{sha256(config)}": (200, {}, config),
        f"/v2/x/blobs/{sha256(layer)}": (200, {}, evil),
    }).start()
    try:
        done = nspod(env, "pull", f"{fake.netloc}/x:1", check=False)
        assert done.returncode == 1
        assert "digest mismatch" in done.stderr and sha256(layer) in done.stderr
        s = store(env)
        assert not s.has_blob(sha256(layer))
        assert os.listdir(s.root / "tmp") == []
        assert nspod(env, "images").stdout.strip().splitlines()[1:] == []
        # A manifest whose body does not match Docker-Content-Digest is refused too.
        fake.routes["/v2/x/manifests/1"] = (200, {"Docker-Content-Digest": "sha256:" + "0" * 64}, manifest)
        done = nspod(env, "pull", f"{fake.netloc}/x:1", check=False)
        assert done.returncode == 1 and "digest mismatch" in done.stderr
        # Too large a manifest is refused.
        fake.routes["/v2/x/manifests/1"] = (200, {}, b" " * ((4 << 20) + 1))
        done = nspod(env, "pull", f"{fake.netloc}/x:1", check=False)
        assert done.returncode == 1 and "at most" in done.stderr
    finally:
        fake.stop()


@pytest.fixture
def token_registry(tmp_path):
    service = TokenService(tmp_path / "token", credentials=("alice", "s3cret")).start()
    r = Registry(tmp_path / "registry", auth=service.config())
    r.token = lambda scope: "Bearer " + service.token(scope)
    r.start()
    yield r, service
    r.stop()
    service.stop()


def test_bearer_token_with_credentials_from_docker_config(token_registry, env):
    registry, service = token_registry
    image = registry.push("team/app", "v1", Image([BASE]))
    ref = f"{registry.netloc}/team/app:v1"
    done = nspod(env, "pull", ref, check=False)   # no credentials: the token service says no
    assert done.returncode == 1 and "refused" in done.stderr and "login" in done.stderr
    os.makedirs(env["DOCKER_CONFIG"])
    with open(os.path.join(env["DOCKER_CONFIG"], "config.json"), "w") as f:
        json.dump({"auths": {f"http://{registry.netloc}": {
            "auth": base64.b64encode(b"alice:s3cret").decode()}}}, f)
    done = nspod(env, "pull", ref)
    assert done.stdout.strip() == image.config_digest[7:]
    last = service.requests[-1]
    assert last["query"]["scope"] == ["repository:team/app:pull"]
    assert last["query"]["service"] == ["nspod-test-registry"]


def test_anonymous_bearer_token(tmp_path, env):
    service = TokenService(tmp_path / "token").start()
    registry = Registry(tmp_path / "registry", auth=service.config())
    registry.token = lambda scope: "Bearer " + service.token(scope)
    registry.start()
    try:
        image = registry.push("pub/app", "v1", Image([BASE]))
        done = nspod(env, "pull", f"{registry.netloc}/pub/app:v1")
        assert done.stdout.strip() == image.config_digest[7:]
        assert all(r["authorization"] is None for r in service.requests)
    finally:
        registry.stop()
        service.stop()


def test_htpasswd_registry_with_credentials_from_containers_auth_json(tmp_path, env):
    (tmp_path / "htpasswd").write_text(htpasswd_line("bob", "pw") + "\n")
    registry = Registry(tmp_path / "registry",
                        auth=["htpasswd:", "  realm: nspod-test", f"  path: {tmp_path / 'htpasswd'}"])
    registry.token = lambda scope: "Basic " + base64.b64encode(b"bob:pw").decode()
    registry.start()
    try:
        image = registry.push("priv/app", "v1", Image([BASE]))
        ref = f"{registry.netloc}/priv/app:v1"
        done = nspod(env, "pull", ref, check=False)
        assert done.returncode == 1 and "needs a user name and password" in done.stderr
        runtime = tmp_path / "runtime"
        (runtime / "containers").mkdir(parents=True)
        (runtime / "containers" / "auth.json").write_text(json.dumps(
            {"auths": {f"{registry.netloc}/priv": {"auth": base64.b64encode(b"bob:pw").decode()},
                       registry.netloc: {"auth": base64.b64encode(b"bob:wrong").decode()}}}))
        done = nspod(dict(env, XDG_RUNTIME_DIR=str(runtime)), "pull", ref)
        assert done.stdout.strip() == image.config_digest[7:]
    finally:
        registry.stop()


def test_rmi_and_prune(registry, env):
    one = registry.push("test/app", "v1", Image([BASE]))
    registry.push_manifest("test/app", "also", one.manifest, one.media_type)
    base = f"{registry.netloc}/test/app"
    nspod(env, "pull", f"{base}:v1")
    nspod(env, "pull", f"{base}:also")
    s = store(env)
    done = nspod(env, "rmi", f"{base}:v1")
    assert done.stdout.splitlines() == [f"Untagged: {base}:v1"]
    assert s.has_blob(one.layer_digests[0])
    # The tag moves to a new image: the old one is dangling until prune.
    two = registry.push("test/app", "also", Image([TOP]))
    nspod(env, "pull", f"{base}:also")
    rows = nspod(env, "images").stdout.splitlines()[1:]
    assert len(rows) == 2 and any("<none>" in r for r in rows)
    done = nspod(env, "image", "prune")
    assert done.stdout.split() == [one.config_digest[7:]]
    assert not s.has_blob(one.layer_digests[0]) and s.has_blob(two.layer_digests[0])
    # rmi by image ID, then nothing is left.
    done = nspod(env, "rmi", two.config_digest[7:19])
    assert done.stdout.splitlines() == [f"Untagged: {base}:also", f"Deleted: {two.config_digest[7:]}"]
    assert sorted(os.listdir(s.root / "blobs" / "sha256")) == []
    done = nspod(env, "rmi", f"{base}:v1", check=False)
    assert done.returncode == 1 and "not in the local store" in done.stderr
    done = nspod(env, "rmi", "UPPER", check=False)
    assert done.returncode == 2


def test_two_users_of_the_store_at_once_pull_while_prune_runs(registry, env):
    """prune (exclusive) and pulls (shared) never collect a blob a pull just fetched."""
    image = registry.push("test/app", "v1", Image([BASE, {"x": os.urandom(1 << 20)}]))
    ref = f"{registry.netloc}/test/app:v1"
    errors = []

    def pull():
        done = nspod(env, "pull", ref, check=False)
        if done.returncode:
            errors.append(done.stderr)

    threads = [threading.Thread(target=pull) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(3):
        nspod(env, "image", "prune")
    for t in threads:
        t.join()
    assert not errors
    s = store(env)
    assert all(s.has_blob(d) for d in image.layer_digests)
