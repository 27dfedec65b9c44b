"""Shell completion: what may follow on an `nspod` command line.

bash's completion function (nspod/completion.bash) runs the hidden
`nspod __complete LINE BREAKS`, LINE being the command line up to the
cursor and BREAKS bash's COMP_WORDBREAKS, and reads back, one a line: how
bash should take the answer (WORDS, FILES or PODS_AND_FILES, and NOSPACE
when no space may follow), the part of the word under the cursor that bash
replaces (what follows the last of BREAKS in it, such as ":" or "="), then
the candidates, cut to that part.

Verbs and flags come from cli.parser() itself, so completion cannot drift
from what the CLI accepts; a positional or an option's value is completed by
what it names (its dest): pods, containers, images, manifests. Names are
read from the state and the image store through read-only connections:
completing never makes the state, starts the node holder or takes a lock. Nothing here runs
unless the shell asks (cli.main looks at its first word only).
"""
import argparse
import json
import os
import sqlite3
import sys

DEFAULT_WORDBREAKS = " \t\n\"'><=;|&(:"

WORDS, FILES, PODS_AND_FILES = "WORDS", "FILES", "PODS_AND_FILES"

# The conditions nspod's pods have (phase.conditions): what --for=condition= takes.
WAIT_CONDITIONS = ("Ready", "Initialized", "ContainersReady", "PodScheduled")


def main(argv):
    """`nspod __complete LINE [BREAKS]`: prints the answer (see above)."""
    line = argv[0] if argv else ""
    breaks = argv[1] if len(argv) > 1 else DEFAULT_WORDBREAKS
    kind, cut, words = complete(line, State(), breaks)
    sys.stdout.write("\n".join([kind, cut] + words) + "\n")
    return 0


def split(line):
    """The words of LINE as the shell reads them (quotes and backslashes
    removed); the last is the word under the cursor ("" after a space).
    An open quote is the word being typed, not an error."""
    words, word, quote, escaped, started = [], [], None, False, False
    for c in line:
        if escaped:
            word.append(c)
            escaped = False
        elif c == "\\" and quote != "'":
            escaped, started = True, True
        elif quote:
            if c == quote:
                quote = None
            else:
                word.append(c)
        elif c in "'\"":
            quote, started = c, True
        elif c in " \t\n":
            if started:
                words.append("".join(word))
                word, started = [], False
        else:
            word.append(c)
            started = True
    words.append("".join(word))
    return words


def complete(line, state, breaks=DEFAULT_WORDBREAKS):
    """(kind, cut, candidates) for the command line LINE (cursor at its end)."""
    words = split(line)
    while len(words) > 1 and _is_assignment(words[0]):  # FOO=1 nspod ...
        words.pop(0)
    before, current = words[1:-1], words[-1]
    kind, candidates = _candidates(before, current, state)
    at = max((current.rfind(b) for b in breaks), default=-1) + 1  # bash replaces what follows a break
    cut = current[at:]
    words = sorted({c[at:] for c in candidates if c.startswith(current)})
    if kind == WORDS and len(words) == 1 and words[0].endswith(("=", ":", "/")):
        kind += " NOSPACE"  # e.g. jsonpath=: the word goes on (one candidate: bash would add a space)
    elif kind == PODS_AND_FILES:
        kind += " NOSPACE"  # "POD:" goes on with a path, as kubectl's completion does
    return kind, cut, words


def _is_assignment(word):
    name, eq, _ = word.partition("=")
    return bool(eq) and name.isidentifier()


def _candidates(before, current, state):
    from .cli import parser as cli_parser

    parser, verb, given = _walk(cli_parser(), before)
    if parser is None:  # after `exec POD --`, or words nspod does not know
        return WORDS, []
    pending = given.pop("_pending", None)
    if pending is not None:  # the previous word is an option that wants a value
        return _values(pending, verb, given, state, current, "")
    if current.startswith("--") and "=" in current:
        flag, _, value = current.partition("=")
        action = _option(parser, flag)
        if action is None or action.nargs == 0:
            return WORDS, []
        return _values(action, verb, given, state, value, flag + "=")
    if current.startswith("-"):
        return WORDS, _flags(parser)
    action = _positional(parser, len(given["_positionals"]))
    if action is None:
        return WORDS, []
    if isinstance(action, argparse._SubParsersAction):
        return WORDS, sorted(action.choices)
    return _values(action, verb, given, state, current, "")


def _walk(parser, before):
    """Follow the words before the cursor through the parser: (the parser
    of the verb they reach, the verb's path, what was given: "_positionals",
    each option's dest, and "_pending" when the last word wants a value)."""
    verb, given, pending = [], {"_positionals": []}, None
    for i, word in enumerate(before):
        if pending is not None:
            given[pending.dest] = word
            pending = None
        elif word == "--":
            return None, verb, given  # what follows is the command exec runs
        elif word.startswith("-") and word != "-":
            action = _option(parser, word.partition("=")[0])
            # An optional value (run --wait) is given as --wait=5m; a word after it is the next positional.
            if action is not None and action.nargs not in (0, "?") and "=" not in word:
                pending = action
        else:
            action = _positional(parser, len(given["_positionals"]))
            if isinstance(action, argparse._SubParsersAction):
                if word not in action.choices:
                    return None, verb, given
                parser, verb, given = action.choices[word], verb + [word], {"_positionals": []}
            else:
                given["_positionals"].append(word)
    if pending is not None:
        given["_pending"] = pending
    return parser, " ".join(verb), given


def _option(parser, flag):
    for action in parser._actions:
        if flag in action.option_strings:
            return action
    return None


def _flags(parser):
    return [s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings]


def _positional(parser, index):
    """The positional argument the index-th positional word fills, or None."""
    for action in parser._actions:
        if action.option_strings:
            continue
        if action.nargs in ("*", "+", argparse.REMAINDER) or isinstance(action, argparse._SubParsersAction):
            return action
        if index == 0:
            return action
        index -= 1
    return None


def _values(action, verb, given, state, current, prefix):
    """(kind, candidates) for what `action` (a positional, or an option's
    value written after `prefix`) may be."""
    from . import cli

    dest = action.dest
    if dest in ("pod", "pods"):
        taken = set(given["_positionals"]) if dest == "pods" else set()
        return WORDS, [prefix + p for p in state.pods() if p not in taken]
    if dest == "container":  # of the pod named before it (cp: in POD:PATH)
        pods = set(state.pods())
        pod = next((w.partition(":")[0] for w in given["_positionals"] if w.partition(":")[0] in pods), None)
        return WORDS, [prefix + c for c in state.containers(pod)] if pod else []
    if dest in ("file", "filename"):
        return FILES, []
    if dest in ("src", "dest"):
        return _copy_ends(state, current)
    if dest in ("images", "image"):
        return WORDS, [prefix + i for i in state.images()]
    if dest == "selector":
        return WORDS, [prefix + s for s in state.labels()]
    if dest == "output":
        formats = cli.PS_OUTPUTS if verb == "ps" else cli.INSPECT_OUTPUTS
        return WORDS, [prefix + f for f in formats] + [prefix + "jsonpath="]
    if dest == "condition":
        return WORDS, [prefix + f for f in ("delete", "create", "jsonpath=")
                       + tuple(f"condition={c}" for c in WAIT_CONDITIONS)]
    if dest == "address":
        return WORDS, [prefix + a for a in ("127.0.0.1", "0.0.0.0", "::1", "localhost")]
    if dest == "shell":
        return WORDS, [prefix + s for s in action.choices or ()]
    return WORDS, []  # a number, a duration, a command: nothing to offer


def _copy_ends(state, current):
    """cp's ends, as kubectl completes them: a path stays a path; else the
    pods as POD: (the path inside is not completed) and local files."""
    if current.startswith(("/", ".", "~")):
        return FILES, []
    if ":" in current:
        return WORDS, []
    return PODS_AND_FILES, [p + ":" for p in state.pods()]


class State:
    """Names from nspod's state and image store, read-only: a store that
    does not exist (or cannot be read) has no names."""

    def pods(self):
        return [r[0] for r in self._query(self._state(), "SELECT name FROM pods ORDER BY name")]

    def containers(self, pod):
        return [r[0] for r in self._query(self._state(), "SELECT name FROM containers WHERE pod = ? ORDER BY idx",
                                          (pod,))]

    def labels(self):
        """Every key=value label the pods have (for -l)."""
        found = set()
        for (manifest,) in self._query(self._state(), "SELECT manifest FROM pods"):
            try:
                labels = json.loads(manifest)["metadata"].get("labels") or {}
            except (ValueError, KeyError, AttributeError):
                continue
            found.update(f"{k}={v}" for k, v in labels.items())
        return sorted(found)

    def images(self):
        from .image.store import image_dir

        return [name + ref for name, ref in
                self._query(image_dir() / "images.db", "SELECT name, ref FROM refs ORDER BY name, ref")]

    @staticmethod
    def _state():
        from .paths import state_path

        return state_path() / "nspod.db"

    @staticmethod
    def _query(path, sql, args=()):
        from urllib.parse import quote

        if not os.path.isfile(path):
            return []
        try:
            db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=1)
            try:
                return db.execute(sql, args).fetchall()
            finally:
                db.close()
        except sqlite3.Error:
            return []
