"""`nspod`: argument parsing and output only; the work is in nspod.api."""
import argparse
import json
import os
import sys

from .errors import BadInput, NspodError


def _age(seconds):
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def _table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


def _duration(flag, value):
    """A Go duration given on the command line ("100ms", "5m"), or None."""
    if value is None:
        return None
    from .backoff import parse_duration

    try:
        return parse_duration(value)
    except ValueError as e:
        raise BadInput(f"{flag}: {e}") from None


def cmd_run(a, api):
    if a.file is None:  # `run --wait pod.yaml`: argparse gave the manifest to --wait's optional value
        if a.wait is None or _is_duration(a.wait):
            raise BadInput("run: name the manifest, e.g. nspod run pod.yaml")
        a.file, a.wait = a.wait, RUN_WAIT
    base = _duration("--backoff-base", a.backoff_base)
    wait = _duration("--wait", a.wait)
    text = read_manifest(a.file)
    names = api.run(text, a.file, backoff_base=base, no_limits=a.no_limits,
                    warn=lambda w: print(f"Warning: {w}", file=sys.stderr))
    for name in names:
        print(name, flush=True)
    if wait is not None:  # as `nspod wait --for=condition=Ready`: the pods stay if they are not Ready in time
        api.wait(names, ("condition", "Ready", "True"), wait)


RUN_WAIT = "5m"  # run --wait without a timeout


def _is_duration(text):
    from .backoff import parse_duration

    try:
        parse_duration(text)
        return True
    except ValueError:
        return False


MAX_MANIFEST = 4 << 20  # bytes: far above any Pod (the API server stores at most 1.5 MiB an object)


def read_manifest(path):
    """The manifest's text; unreadable, too large or not UTF-8 is bad input (exit 2)."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_MANIFEST + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_MANIFEST + 1)
    except OSError as e:
        raise BadInput(f"{path}: {e.strerror}") from None
    if len(data) > MAX_MANIFEST:
        raise BadInput(f"{path}: larger than {MAX_MANIFEST >> 20} MiB; a Pod manifest is far smaller")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x}); "
                       "a manifest is YAML or JSON") from None


def _selector(a):
    """-l/--selector, parsed (bad input is exit 2), or None."""
    if getattr(a, "selector", None) is None:
        return None
    from .selector import SelectorError, parse

    try:
        return parse(a.selector)
    except SelectorError as e:
        raise BadInput(f"-l: {e}") from None


def _pods(a, api, listing=None, none="error"):
    """The pods named on the command line, or those the -l selector matches
    (as kubectl: not both). A selector matching nothing is, as in kubectl,
    an error for wait (none="error"), nothing at all for wait --for=delete
    ("quiet"), and "No resources found" for rm and logs ("say")."""
    selector = _selector(a)
    if selector is None:
        return a.pods
    if a.pods:
        raise BadInput("name cannot be provided when a selector is specified")
    names = [p["name"] for p in (listing or api.ps()) if selector.matches(p["labels"])]
    if not names and none == "error":
        raise NspodError(f"no matching resources found (selector {a.selector})")
    if not names and none == "say":
        print("No resources found", file=sys.stderr)
    return names


def _listed(a, api):
    """`ps`: every pod, or those -l selects."""
    selector = _selector(a)
    return [p for p in api.ps() if selector is None or selector.matches(p["labels"])]


def _labels_column(labels):
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


PS_OUTPUTS = ("wide", "json", "yaml", "name")  # and jsonpath=TEMPLATE (shell completion offers these too)
INSPECT_OUTPUTS = ("json", "yaml")


def cmd_ps(a, api):
    jsonpath = a.output and a.output.startswith("jsonpath=")
    if a.output is not None and a.output not in PS_OUTPUTS and not jsonpath:
        raise BadInput(f"-o {a.output}: use wide, json, yaml, name or jsonpath=TEMPLATE")
    template = _jsonpath_template(a.output) if jsonpath else None
    if a.output in ("json", "yaml", "name") or jsonpath:
        names = [p["name"] for p in _listed(a, api)]
        if a.output == "name":
            for name in names:
                print(f"pod/{name}")
            return
        listing = {"apiVersion": "v1", "kind": "List", "items": [api.inspect(n) for n in names],
                   "metadata": {"resourceVersion": ""}}  # as kubectl get pods -o json|yaml|jsonpath
        if jsonpath:
            _print_jsonpath(listing, template)
        elif a.output == "yaml":
            import yaml

            print(yaml.safe_dump(listing, sort_keys=False), end="")
        else:
            print(json.dumps(listing, indent=2))
        return
    wide = a.output == "wide"
    # As kubectl get pods; -o wide adds the IP and the pod's phase.
    rows = [("NAME", "READY", "STATUS", "RESTARTS", "AGE") + (("IP", "PHASE") if wide else ())
            + (("LABELS",) if a.show_labels else ())]
    for p in _listed(a, api):
        rows.append((p["name"], p["ready"], p["status"], p["restarts"], _age(p["age"]))
                    + ((p.get("ip") or "<none>", p["phase"]) if wide else ())
                    + ((_labels_column(p["labels"]),) if a.show_labels else ()))
    _table(rows)


def _jsonpath_template(output):
    """The TEMPLATE of -o jsonpath=TEMPLATE, checked (a bad one is exit 2)."""
    from .jsonpath import JSONPathError, compile_template

    template = output[len("jsonpath="):]
    try:
        compile_template(template)
    except JSONPathError as e:
        raise BadInput(f"-o jsonpath: {e}") from None
    return template


def _print_jsonpath(obj, template):
    from .jsonpath import render

    print(render(obj, template))


def cmd_inspect(a, api):
    """-o json (the default), yaml, or jsonpath=TEMPLATE as kubectl prints them."""
    output = a.output or "json"
    if output not in INSPECT_OUTPUTS and not output.startswith("jsonpath="):
        raise BadInput(f"-o {output}: use json, yaml or jsonpath=TEMPLATE")
    if output.startswith("jsonpath="):
        template = _jsonpath_template(output)  # checked before looking the pod up: bad input first
        _print_jsonpath(api.inspect(a.pod), template)
        return
    pod = api.inspect(a.pod)
    if output == "yaml":
        import yaml

        print(yaml.safe_dump(pod, sort_keys=False), end="")
    else:
        print(json.dumps(pod, indent=2))


def cmd_exec(a, api):
    if not a.command:
        raise BadInput("exec: give the command after --, e.g. nspod exec POD -- sh")
    tty = a.tty
    if tty and not os.isatty(0):  # as kubectl: go on without a terminal
        print(NOT_A_TTY, file=sys.stderr)
        tty = False
    return api.exec_(a.pod, a.container, a.command, stdin=a.stdin, tty=tty)


def cmd_attach(a, api):
    def say(text):
        if not a.quiet:
            print(text, file=sys.stderr, flush=True)

    code = api.attach(a.pod, a.container, stdin=a.stdin, tty=a.tty, warn=say,
                      ready=lambda: say("If you don't see a command prompt, try pressing enter."))  # (as kubectl)
    return 0 if code is None else code  # None: detached (Ctrl-P Ctrl-Q), the container runs on


NOT_A_TTY = "Unable to use a TTY - input is not a terminal or the right kind of file"


def cmd_cp(a, api):
    try:
        api.cp(a.src, a.dest, a.container)
    except FileNotFoundError as e:
        if e.filename == a.src:  # kubectl's words for a local source that is not there
            raise NspodError(f"{a.src} doesn't exist in local filesystem") from None
        raise NspodError(f"{e.filename}: No such file or directory") from None


def _check_grace(timeout):
    if timeout is not None and not 0 <= timeout <= MAX_GRACE:
        raise BadInput(f"--timeout: must be between 0 and {MAX_GRACE} seconds, got {timeout:g}")


def cmd_stop(a, api):
    _check_grace(a.timeout)
    api.stop(a.pod, timeout=a.timeout)
    print(a.pod)


MAX_GRACE = 1 << 31  # seconds; what terminationGracePeriodSeconds may hold (an int64 in Kubernetes, bounded here)


def cmd_start(a, api):
    api.start(a.pod)
    print(a.pod)


def cmd_rm(a, api):
    _check_grace(a.timeout)
    if a.timeout is not None and not a.force:
        raise BadInput("--timeout: only with -f (it is the grace period of the stop that -f does)")
    if not a.pods and a.selector is None:
        raise BadInput("rm: name the pods, or select them with -l")
    for name in _pods(a, api, none="say"):
        api.rm(name, force=a.force, timeout=a.timeout)
        print(name)


SELECTOR_TAIL = 10  # kubectl logs -l: the last 10 lines of each pod unless --tail says otherwise


def cmd_logs(a, api):
    if a.tail is not None and a.tail < -1:
        raise BadInput("--tail must be greater than or equal to -1")  # kubectl's check; -1: all
    if (a.pod is None) == (a.selector is None):
        raise BadInput("logs: name one pod, or select pods with -l")
    tail = SELECTOR_TAIL if a.selector is not None and a.tail is None else a.tail
    tail = None if tail == -1 else tail
    pods = [a.pod] if a.pod else _pods(argparse.Namespace(selector=a.selector, pods=[]), api, none="say")
    streams = [(pod, api.container_name(pod, a.container)) for pod in pods]  # bad -c: before any output
    if a.follow and len(streams) > 1:  # as kubectl: followed all at once, at most --max-log-requests
        if len(streams) > a.max_log_requests:
            raise NspodError(f"you are attempting to follow {len(streams)} log streams, but maximum allowed "
                             f"concurrency is {a.max_log_requests}, use --max-log-requests to increase the limit")
        return _follow_all(api, streams, a, tail)
    for pod, container in streams:  # with -l: each selected pod in turn, as kubectl logs -l does
        prefix = f"[pod/{pod}/{container}] " if a.prefix else ""
        for line in api.logs(pod, container, follow=a.follow, previous=a.previous,
                             timestamps=a.timestamps, tail=tail):
            print(prefix + line, flush=a.follow)


def _follow_all(api, streams, a, tail):
    """`logs -f -l`: every stream followed by a thread of its own, each line
    printed whole as it comes, until every container followed has ended
    (or the first error, which ends them all, as kubectl's does)."""
    import queue
    import threading

    lines = queue.SimpleQueue()

    def follow(pod, container):
        prefix = f"[pod/{pod}/{container}] " if a.prefix else ""
        try:
            for line in api.logs(pod, container, follow=True, previous=a.previous,
                                 timestamps=a.timestamps, tail=tail):
                lines.put(prefix + line)
        except BaseException as e:  # handed to the main thread, which reports it
            lines.put(e)
        lines.put(None)

    for pod, container in streams:
        threading.Thread(target=follow, args=(pod, container), daemon=True).start()
    running = len(streams)
    while running:
        line = lines.get()
        if line is None:
            running -= 1
        elif isinstance(line, BaseException):
            raise line
        else:
            print(line, flush=True)


def cmd_wait(a, api):
    timeout = _duration("--timeout", a.timeout)
    if timeout < 0:  # kubectl: negative means a week
        timeout = 7 * 24 * 3600
    condition = api.parse_wait_condition(a.condition)
    if not a.pods and a.selector is None:
        raise BadInput("wait: name the pods, or select them with -l")
    pods = _pods(a, api, none="quiet" if condition == ("delete",) else "error")
    api.wait(pods, condition, timeout, met=lambda name: print(f"pod/{name} condition met", flush=True))


def cmd_top(a, api):
    import time

    from .top import mebibytes

    while True:
        rows = api.top(a.pods or None)
        if a.containers:
            table = [("POD", "NAME", "CPU(cores)", "MEMORY(bytes)")]
            table += [(r["pod"], r["container"], f'{r["cpu_m"]}m', mebibytes(r["memory"])) for r in rows]
        else:
            pods = {}
            for r in rows:
                cpu, mem = pods.get(r["pod"], (0, 0))
                pods[r["pod"]] = (cpu + r["cpu_m"], mem + r["memory"])
            table = [("NAME", "CPU(cores)", "MEMORY(bytes)")]
            table += [(p, f"{cpu}m", mebibytes(mem)) for p, (cpu, mem) in pods.items()]
        if len(table) == 1:
            print("No resources found", file=sys.stderr)
        else:
            _table(table)
        if not a.watch:
            return 0
        sys.stdout.flush()
        time.sleep(2)
        print()


def cmd_port_forward(a, api):
    api.port_forward(a.pod, a.ports, address=a.address, say=lambda line: print(line, flush=True))


def cmd_describe(a, api):
    from .describe import describe

    print(describe(api.inspect(a.pod), api.events(a.pod)))


def cmd_explain(a, api):
    """A picture of one pod (nspod/explain/): text (colour on a terminal,
    unless NO_COLOR is set), -o json, or -o dot for Graphviz."""
    if a.output not in (None, "text", "json", "dot"):
        raise BadInput(f"-o {a.output}: use text, json or dot")
    from .explain import draw, gather

    picture = gather.picture(a.pod)
    if a.output == "json":
        print(json.dumps(picture, indent=2))
    elif a.output == "dot":
        print(draw.dot(picture), end="")
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        print(draw.text(picture, colour=colour))


def cmd_pull(a, api):
    import time

    from .image import api as images
    from .image.display import human_size

    tty = sys.stderr.isatty()
    shown = [0.0]
    print(f"Trying to pull {a.image}...", file=sys.stderr)

    def progress(event, digest, done, total):
        short = digest.partition(":")[2][:12]
        if event == "exists":
            print(f"Copying blob {short} skipped: already exists", file=sys.stderr)
        elif event == "bytes" and tty and time.monotonic() - shown[0] > 0.1:
            shown[0] = time.monotonic()
            print(f"\rCopying blob {short} {human_size(done)} / {human_size(total)}\033[K",
                  end="", file=sys.stderr, flush=True)
        elif event == "done":
            print(f"{chr(13) if tty else ''}Copying blob {short} done ({human_size(total)})"
                  f"{chr(27) + '[K' if tty else ''}", file=sys.stderr, flush=True)

    image = images.pull(a.image, progress=progress)
    print("Writing manifest to image destination", file=sys.stderr)
    print(image["config_digest"].partition(":")[2])


def cmd_images(a, api):
    from .image import api as images
    from .image.display import created_ago, human_size

    rows = [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")]
    for i in images.images():
        rows.append((i["repository"], i["tag"], i["id"], created_ago(i["created"]), human_size(i["size"])))
    _table(rows)


def cmd_rmi(a, api):
    from .image import api as images

    for ref in a.images:
        for line in images.rmi(ref, force=a.force):
            print(line)


def cmd_image_prune(a, api):
    from .image import api as images

    for image_id in images.prune()[0]:
        print(image_id)


CONTAINER_HELP = ("default: the one the pod's kubectl.kubernetes.io/default-container annotation names, "
                  "else its first container (as kubectl)")


def _explain_flag(s):
    # `--explain=FILE` is told from `--explain POD.yaml` by its "=": main() makes it --explain-file FILE.
    s.add_argument("--explain", action="store_const", const="-",
                   help="print each kernel step as it is done, by the process doing it, with the command "
                        "that does the same by hand (to stderr); --explain=FILE: as JSON lines to FILE")
    s.add_argument("--explain-file", dest="explain", help=argparse.SUPPRESS)


def cmd_completion(a, api):
    from pathlib import Path

    print(Path(__file__).with_name("completion.bash").read_text(), end="")


class _Unused:
    """A verb's parser that this command does not need: whatever it is told,
    nothing. (argparse makes each parser for ~0.3 ms, most of it gettext
    looking for translations: a command builds only its own verb's.)"""

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


class _OnlyVerb:
    """The subparsers action, making only `verb`'s parser (all when None)."""

    def __init__(self, sub, verb):
        self.sub, self.verb = sub, verb
        self.made = False

    def add_parser(self, name, **kwargs):
        if self.verb is None or name == self.verb:
            self.made = True
            return self.sub.add_parser(name, **kwargs)
        return _Unused()


def parser(verb=None):
    """The command line's parser; with verb (the first argument), only that
    verb's part. A word that is no verb gets the whole parser, and so
    argparse's error with the list of verbs."""
    p, sub = _parser(verb)
    if not sub.made:
        p, sub = _parser(None)
    return p


def _parser(verb):
    p = argparse.ArgumentParser(prog="nspod", description="Kubernetes pods on one Linux machine, rootless.")
    p.add_argument("--version", action="store_true", help="print nspod's version")  # (main answers it first)
    sub = _OnlyVerb(p.add_subparsers(dest="command", required=True, metavar="COMMAND"), verb)
    s = sub.add_parser("run", help="create and start the pods of a manifest")
    s.add_argument("file", nargs="?", help="Pod manifest (YAML or JSON; - for stdin)")  # (nargs: see cmd_run)
    s.add_argument("--backoff-base", metavar="DURATION", help="crash-loop back-off base (default 10s), e.g. 100ms")
    s.add_argument("--no-limits", action="store_true",
                   help="run even where the CPU/memory limits cannot be applied (with a warning)")
    s.add_argument("--wait", nargs="?", const=RUN_WAIT, metavar="TIMEOUT",
                   help="return once every pod is Ready (default timeout 5m); exit 1 if one is not by then")
    _explain_flag(s)
    s.set_defaults(fn=cmd_run)
    s = sub.add_parser("ps", help="list pods")
    s.add_argument("-l", "--selector", help="only pods whose labels match, e.g. app=web,tier!=db or 'env in (a,b)'")
    s.add_argument("--show-labels", action="store_true", help="a LABELS column")
    s.add_argument("-o", "--output", metavar="FORMAT",
                   help="wide: also each pod's IP and phase; json, yaml: the pods as a v1 List; name: pod/NAME; "
                        "jsonpath=TEMPLATE over that List, e.g. '{range .items[*]}{.metadata.name}{\"\\n\"}{end}'")
    s.set_defaults(fn=cmd_ps)
    s = sub.add_parser("inspect", help="a pod as a Kubernetes object, plus pids and namespaces")
    s.add_argument("pod")
    s.add_argument("-o", "--output", default="json", metavar="FORMAT",
                   help="json (default), yaml, or jsonpath=TEMPLATE (e.g. jsonpath='{.status.podIP}')")
    s.set_defaults(fn=cmd_inspect)
    s = sub.add_parser("describe", help="a pod's status, containers and events, as kubectl describe shows them")
    s.add_argument("pod")
    s.set_defaults(fn=cmd_describe)
    s = sub.add_parser("explain", help="a picture of a pod: processes, namespaces, mounts, cgroups, network")
    s.add_argument("pod")
    s.add_argument("-o", "--output", metavar="FORMAT",
                   help="text (default; colour on a terminal unless NO_COLOR is set), json, or dot (Graphviz)")
    s.set_defaults(fn=cmd_explain)
    s = sub.add_parser("logs", help="a container's output")
    s.add_argument("pod", nargs="?")
    s.add_argument("-l", "--selector", help="the pods whose labels match (instead of POD): the last 10 lines of each, "
                                            "one pod after another; with -f all at once")
    s.add_argument("--prefix", action="store_true", help="begin each line with [pod/NAME/CONTAINER]")
    s.add_argument("--max-log-requests", type=int, default=5, metavar="N",
                   help="with -f -l: follow at most N pods (default 5), as kubectl")
    s.add_argument("-c", "--container", help=CONTAINER_HELP)
    s.add_argument("-f", "--follow", action="store_true", help="keep printing until the container ends")
    s.add_argument("-p", "--previous", action="store_true", help="the instance before the last restart")
    s.add_argument("--timestamps", action="store_true")
    s.add_argument("--tail", type=int, metavar="N", help="only the last N lines (-1: all; with -l the default is 10)")
    s.set_defaults(fn=cmd_logs)
    s = sub.add_parser("exec", help="run a command in a container")
    s.add_argument("pod")
    s.add_argument("-c", "--container", help=CONTAINER_HELP)
    s.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the command")
    s.add_argument("-t", "--tty", action="store_true", help="a terminal in the container (with -i: -it)")
    _explain_flag(s)
    s.add_argument("command", nargs="*", help="after --: the command and its arguments")
    s.set_defaults(fn=cmd_exec)
    s = sub.add_parser("attach", help="join a running container's stdin and output (its terminal with tty: true)")
    s.add_argument("pod")
    s.add_argument("-c", "--container", help=CONTAINER_HELP)
    s.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container (it needs stdin: true)")
    s.add_argument("-t", "--tty", action="store_true", help="stdin is a terminal (the container needs tty: true)")
    s.add_argument("-q", "--quiet", action="store_true", help="only what the container writes")
    s.set_defaults(fn=cmd_attach)
    s = sub.add_parser("cp", help="copy files and directories between a container and the host, as kubectl cp")
    s.add_argument("src", help="a local path, or POD:PATH")
    s.add_argument("dest", help="POD:PATH, or a local path")
    s.add_argument("-c", "--container", help=CONTAINER_HELP)
    s.set_defaults(fn=cmd_cp)

    s = sub.add_parser("stop", help="TERM the containers, KILL after the grace period")
    s.add_argument("pod")
    s.add_argument("--timeout", type=float, help="grace period in seconds (default: the pod's)")
    s.set_defaults(fn=cmd_stop)
    _explain_flag(s)
    s = sub.add_parser("wait", help="wait until pods meet a condition, as kubectl wait")
    s.add_argument("pods", nargs="*")
    s.add_argument("-l", "--selector", help="the pods whose labels match (instead of names)")
    s.add_argument("--for", dest="condition", required=True, metavar="CONDITION",
                   help="delete | create | condition=Ready[=false] | jsonpath='{.status.phase}'=Running")
    s.add_argument("--timeout", default="30s", help="how long to wait, for all the pods (default 30s; 0: look once; negative: a week)")
    s.set_defaults(fn=cmd_wait)
    s = sub.add_parser("top", help="CPU and memory of pods (or containers), as kubectl top")
    s.add_argument("pods", nargs="*")
    s.add_argument("--containers", action="store_true", help="one line per container")
    s.add_argument("-w", "--watch", action="store_true", help="again every 2 s, until Ctrl-C")
    s.set_defaults(fn=cmd_top)
    s = sub.add_parser("port-forward", help="forward local ports to a pod's ports, as kubectl port-forward")
    s.add_argument("pod")
    s.add_argument("ports", nargs="+", metavar="[LOCAL:]REMOTE")
    s.add_argument("--address", default="127.0.0.1",
                   help="the local addresses to listen on, comma-separated: IP addresses or localhost "
                        "(127.0.0.1 and ::1); default 127.0.0.1")
    s.set_defaults(fn=cmd_port_forward)
    s = sub.add_parser("start", help="start a stopped pod again")
    s.add_argument("pod")
    _explain_flag(s)
    s.set_defaults(fn=cmd_start)
    s = sub.add_parser("rm", help="remove pods")
    s.add_argument("-f", "--force", action="store_true", help="stop a running pod first (no grace period)")
    s.add_argument("--timeout", type=float,
                   help="with -f: stop gracefully first, with this grace period (preStop hooks, TERM, KILL)")
    s.add_argument("-l", "--selector", help="the pods whose labels match (instead of names)")
    s.add_argument("pods", nargs="*")
    s.set_defaults(fn=cmd_rm)
    _explain_flag(s)
    s = sub.add_parser("pull", help="download an image from its registry")
    s.add_argument("image", help="e.g. busybox, docker.io/library/busybox:1.36, host:5000/app@sha256:...")
    s.set_defaults(fn=cmd_pull)
    s = sub.add_parser("images", help="list local images")
    s.set_defaults(fn=cmd_images)
    s = sub.add_parser("rmi", help="remove local images")
    s.add_argument("-f", "--force", action="store_true", help="even while a pod uses it")
    s.add_argument("images", nargs="+", help="a reference or an image ID")
    s.set_defaults(fn=cmd_rmi)
    s = sub.add_parser("image", help="manage local images")
    image_sub = s.add_subparsers(dest="image_command", required=True, metavar="COMMAND")
    s = image_sub.add_parser("prune", help="remove images no name and no pod uses")
    s.set_defaults(fn=cmd_image_prune)
    s = sub.add_parser("completion", help="print the shell completion script, e.g. source <(nspod completion bash)")
    s.add_argument("shell", choices=["bash"])
    s.set_defaults(fn=cmd_completion)
    return p, sub


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["__complete"]:  # the shell asks what may follow (nspod/completion.py)
        from .completion import main as complete

        return complete(argv[1:])
    if argv[:1] == ["--version"]:  # read only when asked: the metadata import costs every command time
        from importlib.metadata import version

        print(f"nspod {version('nspod')}")
        return 0
    if "exec" in argv and "--" in argv:  # everything after -- is the command
        i = argv.index("--")
        head, tail = argv[:i], argv[i + 1:]
    else:
        head, tail = argv, None
    head = [x for arg in head for x in (("--explain-file", arg[10:]) if arg.startswith("--explain=") else (arg,))]
    try:
        a = parser(head[0] if head else None).parse_args(head)
    except SystemExit as e:
        return 2 if e.code else 0
    if tail is not None:
        a.command = tail
    from . import api

    explainer = None
    try:
        if getattr(a, "explain", None):
            from .steplog import Explainer

            explainer = Explainer(a.explain)
        try:
            code = a.fn(a, api)
        finally:
            if explainer is not None:
                explainer.finish()
    except NspodError as e:
        print(f"Error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # the host, not nspod: a full disk, a file gone, no permission
        what = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else (e.strerror or str(e))
        print(f"Error: {what}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
