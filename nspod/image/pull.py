"""Pulling an image into the local store: resolve the reference to a
manifest (this machine's platform from an index), fetch the config and the
layers the store lacks, verify each, then name the image."""
import time

from . import manifest as mf
from .errors import PullError, UnsupportedMediaType
from .store import ImageStore, free_bytes


def pull(ref, settings=None, store=None, progress=None, platform=None):
    """Pull a parsed Reference; returns the image's row (a dict), with
    'downloaded' (bytes fetched now) and 'seconds' added.

    progress(event, digest, done, total): event is 'exists', 'start',
    'bytes' or 'done'; digest names a layer or the config."""
    from .registry import Client  # the HTTP code, only here

    store = store or ImageStore()
    progress = progress or (lambda *a: None)
    started = time.monotonic()
    client = Client(ref, settings)
    downloaded = 0
    with store.using():
        body, content_type, digest = client.manifest(ref.selector)
        kind, doc = mf.parse(body, content_type, where=str(ref))
        if kind in mf.INDEXES:
            chosen = mf.select(doc, platform, where=str(ref))
            body, content_type, digest = client.manifest(chosen["digest"], size=chosen["size"])
            kind, doc = mf.parse(body, content_type, where=f"{ref.name}@{digest}")
            if kind in mf.INDEXES:
                raise UnsupportedMediaType(f"{ref}: an index inside an index is not supported")
        where = f"{ref.name}@{digest}"
        config_d = doc["config"]
        if config_d.get("mediaType") and config_d["mediaType"] not in mf.CONFIGS:
            raise UnsupportedMediaType(f"{where}: not a container image (config type {config_d['mediaType']!r})")
        if config_d["size"] > mf.MAX_CONFIG:
            raise PullError(f"{where}: the image config is {config_d['size']} bytes; "
                            f"at most {mf.MAX_CONFIG} are accepted")
        layers = doc["layers"]
        for d in layers:  # refuse what we could not unpack before downloading anything
            if mf.layer_compression(d, where=f"{where}: layer") == "zstd":
                from .unpack import zstd_available

                if zstd_available() is None:
                    raise UnsupportedMediaType(
                        f"{where}: layer {d['digest']} is zstd-compressed ({d['mediaType']}) and no zstd "
                        "decompressor is installed (apt-get install zstd, or pip install zstandard)")
        if store.ingest(config_d["digest"], config_d["size"], client.blob_chunks(config_d)):
            downloaded += config_d["size"]
        info = mf.parse_config(store.read_blob(config_d["digest"], mf.MAX_CONFIG), len(layers),
                               where=f"{where}: image config")
        want = platform or mf.this_platform()
        arch = info["platform"].get("architecture")
        if arch and arch != want["architecture"]:
            raise PullError(f"{ref}: the image is for {mf.platform_text(info['platform'])}, "
                            f"this machine is {mf.platform_text(want)}")
        need = sum(d["size"] for d in layers if not store.has_blob(d["digest"], d["size"]))
        free = free_bytes(store.root)
        if need > free:
            raise PullError(f"{ref}: its layers need {need} bytes, {free} are free in {store.root}")
        for d in layers:
            if store.has_blob(d["digest"], d["size"]):
                progress("exists", d["digest"], d["size"], d["size"])
                continue
            progress("start", d["digest"], 0, d["size"])
            fetched = store.ingest(d["digest"], d["size"], client.blob_chunks(d),
                                   progress=lambda done, d=d: progress("bytes", d["digest"], done, d["size"]))
            progress("done" if fetched else "exists", d["digest"], d["size"], d["size"])
            downloaded += d["size"] if fetched else 0
        store.put_bytes(digest, body)
        image = {
            "digest": digest,
            "media_type": kind,
            "config_digest": config_d["digest"],
            "config": info["config"],
            "layers": [{"digest": d["digest"], "size": d["size"], "mediaType": d.get("mediaType", ""),
                        "diffID": diff_id} for d, diff_id in zip(layers, info["diff_ids"])],
            "platform": info["platform"] or want,
            "created": info["created"],
            "size": len(body) + config_d["size"] + sum(d["size"] for d in layers),
        }
        store.record(ref.name, f"@{ref.digest}" if ref.digest else f":{ref.tag}", image)
    row = store.image(digest)
    row["downloaded"] = downloaded
    row["seconds"] = time.monotonic() - started
    return row
