"""The steps of a pod start in `perf trace -a` output (scripts/starttrace):
each step's median time from the CLI's exec, over the traces given.

    python3 scripts/lib/starttrace.py TRACE "CLI_PID [NODE_PID]" ...

Only the CLI, the node holder (of a warm start) and the processes they
start count: the trace is system-wide.
"""
import re
import statistics
import sys

LINE = re.compile(r"^\s*([\d.]+) \([^)]*\): ([^/]*)/(\d+) (\w+)\((.*?)\)\s*(?:=\s*(.*)|\.\.\.)$")
CONTINUED = re.compile(r"^\s*(?:\?|[\d.]+) \([^)]*\): ([^/]*)/(\d+)\s+\.\.\. \[continued\]: (\w+)\(\)\)\s+=\s*(.*)$")
CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID = 0x10000000, 0x40000000, 0x20000000


def steps(path, roots):
    """[(name, ms since the CLI's exec)] of one trace, in order; roots:
    the pids whose events (and their descendants') count."""
    events = []
    unfinished = {}  # pid -> (t, call, args): a call perf printed before it returned
    for raw in open(path, errors="replace"):
        m = LINE.match(raw)
        if m:
            t, comm, pid, call, args, result = m.groups()
            if result is None and comm.startswith(":"):  # (a fresh fork's name: the continuation names it)
                unfinished[int(pid)] = (float(t), call, args)
            elif result is None:
                unfinished[int(pid)] = (float(t), call, args)
                if call == "execve" and comm != "nspod-node":
                    events.append((float(t), comm, int(pid), call, args, ""))
                    unfinished.pop(int(pid))
            else:
                events.append((float(t), comm, int(pid), call, args, result.strip()))
            continue
        m = CONTINUED.match(raw)
        if m and int(m.group(2)) in unfinished:  # (an execve's line names the new program here)
            t, call, args = unfinished.pop(int(m.group(2)))
            events.append((t, m.group(1), int(m.group(2)), call, args, m.group(4).strip()))
    events = sorted((e for e in events if not (e[3] == "execve" and e[5].startswith("-"))), key=lambda e: e[0])
    ours = set(roots)
    kept = []
    for e in events:
        if e[2] in ours:
            kept.append(e)
            if e[3] in ("clone", "clone3") and e[5].split()[:1] and e[5].split()[0].isdigit():
                ours.add(int(e[5].split()[0]))
    events = kept
    found = []
    cli = None
    node = roots[1] if len(roots) > 1 else None  # (a warm start's)
    newpid_children, container_forks = set(), {}
    userns_child = supervisor = None
    netns_kind = {}
    for t, comm, pid, call, args, result in events:
        if call == "execve" and pid == roots[0] and comm == "nspod" and cli is None:
            cli = pid
            found.append(("CLI exec'd (python: imports, argparse, manifest, checks)", t))
        elif cli is None:
            continue
        elif call == "clone" and pid == cli and not any(n.startswith("CLI forks") for n, *_ in found):
            found.append(("CLI forks the node holder (manifest valid: prestart)", t))
        elif call == "unshare" and _flags(args) & CLONE_NEWUSER:
            userns_child = pid
            found.append(("  node holder: unshare(CLONE_NEWUSER)", t))
        elif call == "execve" and comm in ("newuidmap", "newgidmap"):
            found.append((f"  CLI: {comm} started", t))
        elif call == "execve" and pid == userns_child and node is None:
            node = pid
            found.append(("  node holder: exec of nspod-keeper (C)", t))
        elif call == "listen" and comm == "nspod-node" and not any("listening" in n for n, *_ in found):
            node = pid
            found.append(("  node holder: listening (it starts the Python supervisor)", t))
        elif call == "execve" and comm.startswith("python") and pid not in (cli, node) and supervisor is None:
            supervisor = pid
            found.append(("  supervisor exec'd (python -S)", t))
        elif call in ("accept", "accept4") and pid == supervisor and not any("accepts" in n for n, *_ in found):
            found.append(("  supervisor accepts the CLI (imports, seccomp program done)", t))
        elif call == "connect" and pid == cli and result.startswith("0") and not any("connects" in n for n, *_ in found):
            found.append(("CLI connects, asks for the pod", t))
        elif call == "unshare" and pid != cli:
            flags = _flags(args)
            if flags & CLONE_NEWPID:
                newpid_children.add(pid)
            elif flags & CLONE_NEWNET:
                netns_kind[pid] = "pause holder" if flags != CLONE_NEWNET else "node network holder"
        elif call == "clone" and pid in newpid_children and result.split()[0].isdigit():
            container_forks[int(result.split()[0])] = pid
        elif call == "execve" and comm == "catatonit" and pid in netns_kind:
            found.append((f"  {netns_kind[pid]} exec'd (catatonit)", t))
        elif call == "execve" and comm == "slirp4netns":
            found.append(("  uplink exec'd (slirp4netns)", t))
        elif call == "listen" and comm == "slirp4netns":
            found.append(("  uplink ready (its API socket listens)", t))
        elif call == "clone" and comm == "nspod-node" and pid == node and result.split()[0].isdigit():
            child = int(result.split()[0])
            found.append(("", t, child))  # named once we know what the child became
        elif call == "pivot_root" and comm == "nspod-node":
            found.append(("    container: pivot_root (namespaces joined, root built)", t))
        elif call == "seccomp" and "FILTER" in args and comm == "nspod-node" and pid != node and result.startswith("0"):
            found.append(("    container: seccomp filter loaded", t))
        elif (call == "execve" and comm not in ("catatonit", "slirp4netns", "python", "newuidmap", "newgidmap", "nspod", "env",
                                                "nspod-supervis")
              and not comm.startswith(":")):
            found.append((f"  container exec'd ({comm})", t))
        elif call == "exit_group" and pid == cli:
            found.append(("CLI exits (pod running)", t))
    # A node holder's fork is a container's when the child entered a new PID namespace.
    named = []
    for item in found:
        if len(item) == 3:
            _, t, child = item
            if child in newpid_children:
                named.append(("  container: fork (intermediate, new PID namespace)", t))
            continue
        named.append(item)
    if not any(name.startswith("CLI exec'd") for name, _ in named):
        return []  # (perf lost the CLI's exec: this trace says nothing)
    t0 = named[0][1]
    return [(name, t - t0) for name, t in named]


def _flags(args):
    m = re.search(r"unshare_flags: (\d+)", args)
    return int(m.group(1)) if m else 0


def main(args):
    runs = [steps(path, [int(p) for p in pids.split()]) for path, pids in zip(args[::2], args[1::2])]
    lost = len(runs) - len([r for r in runs if r])
    runs = [r for r in runs if r]
    if lost:
        print(f"({lost} trace(s) without the CLI's exec left out)")
    if not runs:
        sys.exit("starttrace: no trace had a CLI exec in it")
    # Steps by name and occurrence (a container's steps come twice).
    table = {}
    order = []
    for run in runs:
        seen = {}
        for name, t in run:
            k = (name, seen.get(name, 0))
            seen[name] = k[1] + 1
            if k not in table:
                order.append(k)
            table.setdefault(k, []).append(t)
    rows = sorted(((statistics.median(v), k, len(v)) for k, v in table.items()), key=lambda r: r[0])
    print(f"{len(runs)} trace(s); median ms since the CLI's exec, and since the step before")
    prev = 0.0
    for t, (name, n), count in rows:
        print(f"{t:8.1f} {t - prev:+7.1f}  {name}{f' #{n + 1}' if n else ''}{'' if count == len(runs) else f'  (in {count} of {len(runs)})'}")
        prev = t


if __name__ == "__main__":
    main(sys.argv[1:])
