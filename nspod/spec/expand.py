"""Kubernetes $(VAR) expansion, as the kubelet applies it to env values,
command and args.

- "$(NAME)" becomes the value of NAME when NAME is defined; otherwise it is
  left exactly as written (no error, no empty string);
- "$$" is an escaped "$", so "$$(NAME)" yields the literal text "$(NAME)";
- any other "$" (at the end, before a letter, an unterminated "$(") is literal.
"""


def expand(text, env):
    """Expand $(VAR) references in text using the mapping env."""
    out = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "$" or i + 1 == n:
            out.append(char)
            i += 1
        elif text[i + 1] == "$":
            out.append("$")
            i += 2
        elif text[i + 1] == "(":
            close = text.find(")", i + 2)
            if close == -1:  # "$(" never closed: keep it, go on after it
                out.append("$(")
                i += 2
            else:
                name = text[i + 2:close]
                out.append(env[name] if name in env else text[i:close + 1])
                i = close + 1
        else:
            out.append("$")
            i += 1
    return "".join(out)


def expand_env(env_vars):
    """Resolve a container's env list in order: each value may refer only to
    variables defined before it (a later definition of a name wins)."""
    resolved = {}
    for var in env_vars:
        resolved[var.name] = expand(var.value, resolved)
    return resolved
