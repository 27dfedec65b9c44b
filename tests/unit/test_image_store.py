"""The local image store, credentials, challenges, registry endpoints and
the image verbs' output formats (no network, no registry)."""
import base64
import hashlib
import json
import os
import threading
import time
from types import SimpleNamespace

import pytest

from nspod import config
from nspod.errors import BadInput
from nspod.image import api, auth
from nspod.image.display import created_ago, human_duration, human_size
from nspod.image.errors import ImageInUse, ImageNotFound, PullError
from nspod.image.registry import endpoints, is_loopback
from nspod.image.store import ImageStore, image_dir


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("NSPOD_STATE_DIR", str(state))
    s = ImageStore(tmp_path / "images")
    yield s
    s.close()


def test_image_dir_follows_xdg_and_root(monkeypatch, tmp_path):
    monkeypatch.delenv("NSPOD_IMAGE_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    if os.geteuid() == 0:
        assert str(image_dir()) == "/var/lib/nspod/images"
    else:
        assert image_dir() == tmp_path / "nspod" / "images"
    monkeypatch.setenv("NSPOD_IMAGE_DIR", str(tmp_path / "x"))
    assert image_dir() == tmp_path / "x"


def test_ingest_verifies_size_and_digest_and_leaves_nothing_on_failure(store):
    data = b"layer bytes" * 100
    d = digest(data)
    with pytest.raises(PullError) as e:
        store.ingest(d, len(data), lambda: [data[:-1] + b"X"])
    assert "digest mismatch" in str(e.value) and d in str(e.value)
    with pytest.raises(PullError, match="more than"):
        store.ingest(d, len(data) - 1, lambda: [data])
    with pytest.raises(PullError, match="got 5 bytes"):
        store.ingest(d, len(data), lambda: [data[:5]])
    assert not store.has_blob(d)
    assert os.listdir(store.root / "tmp") == [] and os.listdir(store.root / "locks") == []
    assert store.ingest(d, len(data), lambda: [data[:10], data[10:]]) is True
    assert store.ingest(d, len(data), lambda: pytest.fail("fetched twice")) is False
    assert store.blob_path(d).read_bytes() == data
    assert stat_mode(store.root) == 0o700


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_concurrent_ingest_of_one_blob_fetches_once(store):
    data = os.urandom(1 << 16)
    d = digest(data)
    fetches = []

    def chunks():
        fetches.append(1)
        time.sleep(0.2)
        yield data

    results = []
    threads = [threading.Thread(target=lambda: results.append(store.ingest(d, len(data), chunks)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fetches) == 1 and sorted(results) == [False, False, False, True]
    assert os.listdir(store.root / "locks") == []


def _open_and_list(root, go, results):
    go.wait()
    try:
        s = ImageStore(root)
        s.images()
        s.close()
        results.put("ok")
    except Exception as e:  # noqa: BLE001 (reported to the test, which names it)
        results.put(repr(e))


def test_processes_opening_a_new_store_at_once_all_get_it(tmp_path):
    """Two pods pulling their first image open a new index at once: SQLite
    refuses one of two connections that both want to switch the new file to
    WAL ("database is locked", without waiting); the store tries again."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    outcomes = []
    for n in range(25):
        go, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_open_and_list, args=(tmp_path / f"s{n}", go, results)) for _ in range(4)]
        for p in procs:
            p.start()
        time.sleep(0.02)  # all four waiting on `go`
        go.set()
        outcomes += [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join()
    assert outcomes == ["ok"] * 100, sorted(set(outcomes))


def fake_image(store, name="docker.io/library/app", tag="1", layer=b"L"):
    config = json.dumps({"n": name, "t": tag, "l": layer.decode()}).encode()
    manifest = json.dumps({"c": digest(config), "l": digest(layer)}).encode()
    for blob in (layer, config, manifest):
        store.put_bytes(digest(blob), blob)
    img = {"digest": digest(manifest), "media_type": "x", "config_digest": digest(config),
           "config": {"Cmd": ["sh"]}, "layers": [{"digest": digest(layer), "size": 1, "mediaType": "",
                                                  "diffID": digest(layer)}],
           "platform": {"os": "linux"}, "created": "2024-01-01T00:00:00Z", "size": 3}
    store.record(name, f":{tag}", img)
    return img


def add_pod(name, image):
    from nspod.store import Store

    s = Store()
    manifest = {"metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": image}, {"name": "h", "image": "host"}]}}
    s.create_pod(SimpleNamespace(name=name, manifest=manifest, init_containers=(),
                                 all_containers=lambda: (), is_init=lambda _: False), "uid", {})
    s.close()


def test_rmi_refuses_an_image_a_pod_uses_unless_forced(store):
    img = fake_image(store)
    add_pod("web", "app:1")
    add_pod("proc", "host")
    with pytest.raises(ImageInUse) as e:
        api.rmi("app:1", store=store)
    assert 'used by pod(s) web' in str(e.value) and "-f" in str(e.value)
    assert api.rmi("app:1", force=True, store=store) == [
        "Untagged: docker.io/library/app:1", f"Deleted: {img['config_digest'][7:]}"]
    assert os.listdir(store.root / "blobs" / "sha256") == []


def test_prune_keeps_what_a_pod_uses_and_what_is_named(store):
    old = fake_image(store, tag="1", layer=b"A")
    fake_image(store, tag="1", layer=b"B")        # the tag moves: old is dangling
    other = fake_image(store, tag="2", layer=b"C")
    removed, freed = api.prune(store=store)
    assert removed == [old["config_digest"][7:]] and freed > 0
    assert not store.has_blob(digest(b"A")) and store.has_blob(digest(b"B"))
    # A dangling image a pod still names by digest is kept.
    store.untag("docker.io/library/app", ":2")
    add_pod("web", f"app@{other['digest']}")
    assert api.prune(store=store) == ([], 0)
    assert store.image(other["digest"]) is not None


def test_find_by_id_prefix_and_several_names(store):
    img = fake_image(store, tag="1")
    store.record("docker.io/library/app", ":2", img)
    found, refs = store.find(img["config_digest"][7:15])
    assert found["digest"] == img["digest"] and refs is None
    with pytest.raises(ImageInUse, match="several names"):
        api.rmi(img["config_digest"][7:15], store=store)
    assert len(api.rmi(img["config_digest"][7:15], force=True, store=store)) == 3
    with pytest.raises(ImageNotFound):
        api.rmi("app:1", store=store)


def test_images_rows(store):
    img = fake_image(store)
    rows = api.images(store=store)
    assert rows == [{"repository": "docker.io/library/app", "tag": "1", "id": img["config_digest"][7:19],
                     "created": "2024-01-01T00:00:00Z", "size": 3, "digest": img["digest"]}]
    assert api.lookup("app:1", store=store)["config"] == {"Cmd": ["sh"]}
    with pytest.raises(ImageNotFound, match="nspod pull app:2"):
        api.lookup("app:2", store=store)


def test_human_formats_as_podman():
    assert human_size(3) == "3 B" and human_size(4_261_000) == "4.26 MB" and human_size(1_500_000_000) == "1.5 GB"
    assert human_duration(30) == "30 seconds" and human_duration(3600) == "About an hour"
    assert human_duration(86400 * 3) == "3 days" and human_duration(86400 * 20) == "2 weeks"
    now = 1_717_200_000  # 2024-06-01
    assert created_ago("2024-05-01T10:00:00.123456789Z", now=now) == "4 weeks ago"
    assert created_ago(None) == "" and created_ago("garbage") == ""


# --- credentials and challenges ------------------------------------------------
def write_auths(path, auths):
    path.write_text(json.dumps({"auths": auths}))
    return str(path)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_credentials_match_host_repository_prefix_and_docker_hub_aliases(tmp_path):
    f = write_auths(tmp_path / "a.json", {
        "https://index.docker.io/v1/": {"auth": b64("hub:1")},
        "registry.example:5000": {"auth": b64("reg:2")},
        "registry.example:5000/team": {"username": "team", "password": "3"},
        "http://127.0.0.1:5000": {"auth": b64("local:4")},
    })
    assert auth.credentials("docker.io", "library/busybox", [f]) == ("hub", "1")
    assert auth.credentials("registry.example:5000", "other/app", [f]) == ("reg", "2")
    assert auth.credentials("registry.example:5000", "team/app", [f]) == ("team", "3")
    assert auth.credentials("127.0.0.1:5000", "x", [f]) == ("local", "4")
    assert auth.credentials("registry.example", "x", [f]) is None


def test_first_file_with_an_entry_wins_and_bad_files_are_named(tmp_path):
    first = write_auths(tmp_path / "1.json", {"r.io": {"auth": b64("a:1")}})
    second = write_auths(tmp_path / "2.json", {"r.io/deeper": {"auth": b64("b:2")}})
    assert auth.credentials("r.io", "deeper/x", [str(tmp_path / "missing"), first, second]) == ("a", "1")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PullError, match="bad.json"):
        auth.credentials("r.io", "x", [str(tmp_path / "bad.json")])


def test_auth_files_order(monkeypatch, tmp_path):
    monkeypatch.setenv("REGISTRY_AUTH_FILE", "/a.json")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/cfg")
    monkeypatch.setenv("DOCKER_CONFIG", "/dock")
    assert auth.auth_files() == ["/a.json", "/run/user/1/containers/auth.json",
                                 "/cfg/containers/auth.json", "/dock/config.json"]
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert "/run/user/1/containers/auth.json" not in auth.auth_files()


def test_www_authenticate_challenges():
    assert auth.challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/busybox:pull"') == [
        ("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                    "scope": "repository:library/busybox:pull"})]
    assert auth.challenges('Basic realm="a \\"b\\"", Bearer realm="x"') == [
        ("basic", {"realm": 'a "b"'}), ("bearer", {"realm": "x"})]
    assert auth.challenges("") == []


# --- endpoints and config ------------------------------------------------------
@pytest.mark.parametrize("netloc,loop", [
    ("127.0.0.1:5000", True), ("127.1.2.3", True), ("localhost:5000", True), ("[::1]:5000", True),
    ("x.localhost", True), ("10.0.0.1:5000", False), ("registry.example", False), ("[::2]:5000", False),
])
def test_loopback(netloc, loop):
    assert is_loopback(netloc) is loop


def test_endpoints_https_by_default_http_for_loopback_and_insecure_mirrors_first():
    def urls(domain, settings):
        return [(e.scheme, e.netloc) for e in endpoints(domain, settings)]

    assert urls("quay.io", {}) == [("https", "quay.io")]
    assert urls("127.0.0.1:5000", {}) == [("http", "127.0.0.1:5000")]
    assert urls("reg.lan:5000", {"insecure_registries": ["reg.lan:5000"]}) == [("http", "reg.lan:5000")]
    assert urls("docker.io", {"registry_mirrors": ["https://m.example", "127.0.0.1:6000", "http://m2:80"]}) == [
        ("https", "m.example"), ("http", "127.0.0.1:6000"), ("http", "m2:80"), ("https", "registry-1.docker.io")]


def test_registry_settings_in_the_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "nspod").mkdir()
    (tmp_path / "nspod" / "config.toml").write_text(
        'insecure_registries = ["reg.lan:5000"]\nregistry_mirrors = ["https://mirror.example/"]\n')
    assert config.load() == {"insecure_registries": ["reg.lan:5000"], "registry_mirrors": ["https://mirror.example"]}
    for bad in ('insecure_registries = "reg.lan"', 'insecure_registries = ["http://reg.lan"]',
                'registry_mirrors = ["ftp://x"]', 'registry_mirrors = [1]'):
        (tmp_path / "nspod" / "config.toml").write_text(bad + "\n")
        with pytest.raises(BadInput):
            config.load()


def test_commands_that_do_not_pull_import_no_http_code(tmp_path):
    """The CLI's start time is a benchmark figure: urllib, http.client and ssl
    are for `nspod pull` only."""
    import subprocess
    import sys

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    code = ("import sys; from nspod.cli import main\n"
            "for argv in (['images'], ['image', 'prune'], ['rmi', 'nothing:1'], ['ps']): main(argv)\n"
            "print(sorted(m for m in ('http.client', 'ssl', 'urllib.request', 'nspod.image.registry')"
            " if m in sys.modules))")
    env = dict(os.environ, NSPOD_IMAGE_DIR=str(tmp_path / "images"), NSPOD_STATE_DIR=str(state))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_retire_layers_keeps_what_images_and_pods_use(store):
    """Unpacked layers (layers/sha256/HEX) no image names and no pod mounts
    are moved to layers/trash/, with unpacking leftovers; the rest stays."""
    def image(digest, diff_ids):
        return {"digest": digest, "media_type": "m", "config_digest": digest, "config": {}, "platform": {},
                "layers": [{"digest": d, "size": 1, "mediaType": "m", "diffID": d} for d in diff_ids],
                "created": "", "size": 1}

    a, b, c, d = (f"sha256:{n * 64}" for n in "abcd")
    store.record("x", ":1", image("sha256:" + "1" * 64, [a, b]))
    for diff_id in (a, b, c, d):
        store.layer_path(diff_id).mkdir(parents=True)
    (store.root / "layers" / "tmp" / "half").mkdir(parents=True)
    trash = store.retire_layers(keep={"sha256/" + "c" * 64})
    assert sorted(p.name for p in (store.root / "layers" / "sha256").iterdir()) == ["a" * 64, "b" * 64, "c" * 64]
    assert sorted(os.path.basename(t).split("-")[1][:1] for t in trash) == ["d", "h"]
    assert all(os.path.dirname(t) == str(store.root / "layers" / "trash") for t in trash)
