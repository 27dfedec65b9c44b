"""How the image verbs print sizes and ages: as podman does (go-units'
HumanSizeWithPrecision and HumanDuration)."""
import time
from datetime import datetime


def human_size(n):
    """Decimal units, three significant digits: '4.26 MB'."""
    size, units = float(n), ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g} {units[i]}"


def human_duration(seconds):
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = round(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def created_ago(rfc3339, now=None):
    """'2 weeks ago' for an image config's `created`; '' when it has none."""
    if not rfc3339:
        return ""
    text = rfc3339.strip().replace("Z", "+00:00")
    if "." in text:  # Go writes nanoseconds; fromisoformat takes at most microseconds
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        when = datetime.fromisoformat(text).timestamp()
    except ValueError:
        return ""
    return human_duration(max(0.0, (now or time.time()) - when)) + " ago"
