"""The JSONPath that kubectl users write (`kubectl get -o jsonpath`,
`kubectl wait --for=jsonpath=...`), over plain JSON values. Pure.

    {.status.phase}                                   a field
    {.status.containerStatuses[0].ready}               an index (negative from the end)
    {.status.containerStatuses[*].name}                every element
    {.status.conditions[?(@.type=="Ready")].status}   elements whose field equals a value
    {.metadata.labels.app\\.kubernetes\\.io/name}       a dot inside a key, escaped
    {range .items[*]}{.metadata.name}{"\\n"}{end}     a template repeated for each value (render)

`find(obj, path)` returns the list of values found (empty when the path
leads nowhere, as kubectl's allowMissingKeys does for wait).
"""
import re

_FILTER = re.compile(r"""\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*(?:"([^"]*)"|'([^']*)'|([^)\s]+))\)""")


class JSONPathError(ValueError):
    pass


def parse(path):
    """The steps of a `{...}` expression: ("key", name) | ("index", n) | ("all",) | ("filter", key, value)."""
    text = path.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise JSONPathError(f"{path}: a JSONPath expression is written in braces, e.g. {{.status.phase}}")
    text = text[1:-1].strip()
    if text.startswith(("$", "@")):  # the root, or (in a range) the current value
        text = text[1:]
    steps, i = [], 0
    while i < len(text):
        c = text[i]
        if c == ".":
            i += 1
            name = []
            while i < len(text) and text[i] not in ".[":
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                name.append(text[i])
                i += 1
            if not name:
                raise JSONPathError(f"{path}: an empty field name at position {i}")
            steps.append(("key", "".join(name)))
        elif c == "[":
            end = text.find("]", i)
            if end < 0:
                raise JSONPathError(f"{path}: unclosed [")
            inner = text[i + 1:end].strip()
            if inner == "*":
                steps.append(("all",))
            elif re.fullmatch(r"-?\d+", inner):
                steps.append(("index", int(inner)))
            elif (m := _FILTER.fullmatch(inner)):
                value = next(v for v in m.groups()[1:] if v is not None)
                steps.append(("filter", m.group(1), value))
            elif len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
                steps.append(("key", inner[1:-1]))
            else:
                raise JSONPathError(f"{path}: [{inner}] is not supported (use [N], [*], ['key'] or [?(@.f==\"v\")])")
            i = end + 1
        else:
            raise JSONPathError(f"{path}: unexpected {c!r} at position {i}")
    return steps


def find(obj, path):
    values = [obj]
    for step in parse(path):
        found = []
        for v in values:
            if step[0] == "key":
                if isinstance(v, dict) and step[1] in v:
                    found.append(v[step[1]])
            elif step[0] == "index":
                if isinstance(v, list) and -len(v) <= step[1] < len(v):
                    found.append(v[step[1]])
            elif step[0] == "all":
                if isinstance(v, list):
                    found.extend(v)
                elif isinstance(v, dict):
                    found.extend(v.values())
            else:  # filter
                _, field, want = step
                if isinstance(v, list):
                    found.extend(e for e in v if text(_get(e, field)) == want)
        values = found
    return values


def _get(obj, dotted):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def text(value):
    """A value as kubectl prints it: strings bare, booleans lower case, JSON otherwise."""
    import json

    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


def compile_template(template):
    """A `-o jsonpath=TEMPLATE` parsed (and its expressions checked): a list
    of ("text", s) | ("expr", "{...}") | ("range", "{...}", body) nodes."""
    tokens, i = [], 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            tokens.append(("text", template[i:]))
            break
        if start > i:
            tokens.append(("text", template[i:start]))
        end = template.find("}", start)
        if end < 0:
            raise JSONPathError(f"{template}: unclosed {{")
        inner = template[start + 1:end].strip()
        word = inner.split()[:1]
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            tokens.append(("text", inner[1:-1].encode().decode("unicode_escape")))
        elif word == ["range"]:
            expr = "{" + inner[len("range"):].strip() + "}"
            parse(expr)
            tokens.append(("range", expr))
        elif word == ["end"]:
            tokens.append(("end",))
        else:
            parse("{" + inner + "}")
            tokens.append(("expr", "{" + inner + "}"))
        i = end + 1
    return _nest(tokens, template)


def _nest(tokens, template, inside=False):
    """Nodes up to the {end} that closes the range we are inside (if any)."""
    nodes = []
    while tokens:
        token = tokens.pop(0)
        if token[0] == "end":
            if not inside:
                raise JSONPathError(f"{template}: {{end}} without {{range}}")
            return nodes
        if token[0] == "range":
            nodes.append(("range", token[1], _nest(tokens, template, inside=True)))
        else:
            nodes.append(token)
    if inside:
        raise JSONPathError(f"{template}: {{range}} without {{end}}")
    return nodes


def render(obj, template):
    """A `-o jsonpath=TEMPLATE` as kubectl prints it: literal text, each
    {EXPR} replaced by the values it finds, space-separated, {"\\n"} and
    {'text'} literal strings, and {range EXPR}...{end} repeating its body for
    each value found, with expressions inside relative to that value."""
    return "".join(_render(obj, compile_template(template)))


def _render(obj, nodes):
    for node in nodes:
        if node[0] == "text":
            yield node[1]
        elif node[0] == "expr":
            yield " ".join(text(v) for v in find(obj, node[1]))
        else:
            for value in find(obj, node[1]):
                yield from _render(value, node[2])
