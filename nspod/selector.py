"""Label selectors as kubectl takes them (`-l`, Kubernetes' labels.Parse). Pure.

    app=web  app==web  tier!=db           equality (!= also matches pods without the label)
    env in (prod,qa)  env notin (dev)     sets (notin also matches pods without it)
    release  !release                     the label exists / does not
    replicas>2  replicas<5                an integer label greater / less than

Requirements are separated by commas and must all hold. `parse(text)`
returns a Selector (`matches(labels)`), or raises SelectorError.
"""
import re

NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAME = re.compile(NAME)
_PREFIX = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_OPERATOR = re.compile(r"\s*(==|=|!=|\s+notin\b|\s+in\b|>|<)\s*")


class SelectorError(ValueError):
    pass


class Selector:
    def __init__(self, requirements):
        self.requirements = requirements  # [(key, operator, values)]

    def matches(self, labels):
        return all(_holds(labels, key, op, values) for key, op, values in self.requirements)


def parse(text):
    requirements = [_requirement(part) for part in _split(text)]
    if not requirements:
        raise SelectorError("an empty selector (e.g. -l app=web)")
    return Selector(requirements)


def _split(text):
    """The comma-separated requirements; commas inside (...) belong to a set."""
    parts, depth, current = [], 0, []
    for c in text:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f'"{text}": a ")" without "("')
        if c == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    if depth:
        raise SelectorError(f'"{text}": a "(" without ")"')
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()] if text.strip() else []


def _requirement(part):
    if part.startswith("!"):
        return (_key(part[1:].strip(), part), "!", ())
    m = _OPERATOR.search(part)
    if not m:
        return (_key(part, part), "exists", ())
    key, op, rest = part[:m.start()], m.group(1).strip(), part[m.end():].strip()
    key = _key(key.strip(), part)
    if op in ("in", "notin"):
        if not (rest.startswith("(") and rest.endswith(")")):
            raise SelectorError(f'"{part}": {op} takes a list in parentheses, e.g. {key} {op} (a,b)')
        values = tuple(v.strip() for v in rest[1:-1].split(","))
        if values == ("",):
            raise SelectorError(f'"{part}": {op} needs at least one value')
        for v in values:
            _value(v, part)
        return (key, op, values)
    if op in (">", "<"):
        if not re.fullmatch(r"-?\d+", rest):
            raise SelectorError(f'"{part}": {op} compares with an integer, not "{rest}"')
        return (key, op, (int(rest),))
    _value(rest, part)
    return (key, "!=" if op == "!=" else "=", (rest,))


def _key(key, part):
    """A label key: [prefix/]name, as Kubernetes validates a qualified name."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _PREFIX.fullmatch(prefix)):
        raise SelectorError(f'"{part}": "{key}": the prefix must be a DNS subdomain (e.g. example.com/name)')
    if not name or len(name) > 63 or not _NAME.fullmatch(name):
        raise SelectorError(f'"{part}": "{key}" is not a valid label key: at most 63 characters, '
                            "alphanumerics and '-', '_' or '.' between them")
    return key


def _value(value, part):
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        raise SelectorError(f'"{part}": "{value}" is not a valid label value: at most 63 characters, '
                            "alphanumerics and '-', '_' or '.' between them")


def _holds(labels, key, op, values):
    if op == "exists":
        return key in labels
    if op == "!":
        return key not in labels
    if op == "=":
        return labels.get(key) == values[0]
    if op == "!=":
        return labels.get(key) != values[0]
    if op == "in":
        return key in labels and labels[key] in values
    if op == "notin":
        return labels.get(key) not in values
    try:  # > and <: only a label holding an integer can compare
        n = int(labels[key])
    except (KeyError, ValueError):
        return False
    return n > values[0] if op == ">" else n < values[0]
