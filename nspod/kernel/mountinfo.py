"""/proc/PID/mountinfo's text, shared by its readers (cgroup discovery, `nspod explain`)."""


def unescape(field):
    """mountinfo writes space, tab, newline and backslash as \\ooo (octal)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse(text):
    """Each mount of a mountinfo text, in mount order: {"target", "root" (the
    path inside its filesystem: a bind's source there), "fstype", "source",
    "options" (the mount's, a list), "super_options" (the filesystem's, or
    None when the line has none)}. A line not of that form is passed over."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if not sep or len(fields) < 6 or len(rest) < 2:
            continue
        mounts.append({"target": unescape(fields[4]), "root": unescape(fields[3]), "fstype": rest[0],
                       "source": unescape(rest[1]), "options": fields[5].split(","),
                       "super_options": rest[2] if len(rest) > 2 else None})
    return mounts
