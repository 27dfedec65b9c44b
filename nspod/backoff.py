"""Restart decisions and the kubelet's crash-loop back-off.

Upstream rules followed (Kubernetes v1.27 .. v1.35, default feature gates):

* ``should_restart`` -- ``ShouldContainerBeRestarted`` in pkg/kubelet/container:
  ``Never`` never restarts, ``OnFailure`` restarts after a non-zero exit, ``Always``
  after any exit.
* ``BackOff`` -- ``doBackOff`` in pkg/kubelet/kuberuntime with client-go's
  ``flowcontrol.Backoff``: the first exit restarts at once (and arms the back-off at
  10 s); each further exit waits the armed delay, then doubles it, capped at 300 s.
  A container that ran for 10 minutes before exiting starts the sequence again
  (client-go resets after 2 x max = 600 s; KEP-4603 fixed this at a flat 10 min).
  So the waits are 0, 10, 20, 40, 80, 160, 300, 300 ... seconds. The base (10 s) and
  the cap (300 s, the kubelet's ``maxContainerRestartPeriod``) are configurable; a base
  of 0 restarts at once every time.
* ``crash_loop_message`` -- the ``CrashLoopBackOff`` waiting message
  (``back-off 20s restarting failed container=web pod=...``).
* ``parse_duration`` / ``format_duration`` -- Go's ``time.ParseDuration`` and
  ``Duration.String``, the duration syntax of kubelet configuration.
"""

RESTART_POLICIES = ("Always", "OnFailure", "Never")


def should_restart(restart_policy: str, exit_code: int) -> bool:
    """Whether the kubelet restarts a container that exited with ``exit_code``."""
    if restart_policy == "Always":
        return True
    if restart_policy == "OnFailure":
        return exit_code != 0
    if restart_policy == "Never":
        return False
    raise ValueError(f"restartPolicy {restart_policy!r} is not one of {RESTART_POLICIES}")


class BackOff:
    """Crash-loop back-off for the containers of one pod.

    ``delay(n)`` is the pure rule; ``next_delay(ran_for, container)`` keeps the count
    of consecutive exits per container name and is called once per exit.
    """

    def __init__(self, base: float = 10.0, cap: float = 300.0, reset_after: float = 600.0):
        for name, value in (("base", base), ("cap", cap), ("reset_after", reset_after)):
            if value < 0:
                raise ValueError(f"back-off {name} must not be negative, got {value}")
        self.base = float(base)
        self.cap = float(cap)
        self.reset_after = float(reset_after)
        self._exits: dict[str, int] = {}

    def delay(self, consecutive_failures: int) -> float:
        """Seconds to wait before restarting a container that has now exited
        ``consecutive_failures`` times in a row (counting this exit): 1 -> 0 (at once),
        2 -> base, 3 -> 2*base, ... capped at ``cap``."""
        if consecutive_failures <= 1 or self.base <= 0:
            return 0.0
        doublings = consecutive_failures - 2
        if doublings >= 64:  # far past any cap; avoid huge powers
            return self.cap
        return min(self.cap, self.base * (1 << doublings))

    def next_delay(self, ran_for: float, container: str = "") -> float:
        """Record one exit of ``container`` after it ran ``ran_for`` seconds; return
        the wait before starting it again. A run of ``reset_after`` or longer starts a
        new sequence (so the restart is immediate again)."""
        if ran_for >= self.reset_after:
            count = 1
        else:
            count = self._exits.get(container, 0) + 1
        self._exits[container] = count
        return self.delay(count)

    def consecutive(self, container: str = "") -> int:
        """Exits counted in the current sequence of ``container``."""
        return self._exits.get(container, 0)

    def set_consecutive(self, count: int, container: str = "") -> None:
        """Take up a sequence counted elsewhere (a supervisor that left it
        in the state): ``count`` exits so far."""
        if count > 0:
            self._exits[container] = int(count)
        else:
            self._exits.pop(container, None)

    def reset(self, container: str = "") -> None:
        """Forget ``container``'s sequence (e.g. its spec changed or it was removed)."""
        self._exits.pop(container, None)


def crash_loop_message(delay: float, container: str, pod: str) -> str:
    """The kubelet's message for a container waiting in ``CrashLoopBackOff``."""
    return f"back-off {format_duration(delay)} restarting failed container={container} pod={pod}"


# --- Go durations ----------------------------------------------------------------------

_UNITS_NS = {
    "ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000,
    "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
}
_DIGITS = "0123456789"


def parse_duration(text: str) -> float:
    """Seconds in a Go duration: ``"100ms"``, ``"10s"``, ``"1.5s"``, ``"1m30s"``,
    ``"0"``. Units ns, us (\u00b5s), ms, s, m, h; an optional sign. ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string, got {type(text).__name__}")
    rest, sign = text, 1
    if rest[:1] in ("+", "-"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    total_ns = 0
    while rest:
        # one term: digits [. digits] unit
        whole = rest[:len(rest) - len(rest.lstrip(_DIGITS))]
        rest = rest[len(whole):]
        frac = ""
        if rest.startswith("."):
            rest = rest[1:]
            frac = rest[:len(rest) - len(rest.lstrip(_DIGITS))]
            rest = rest[len(frac):]
        if not whole and not frac:
            raise ValueError(f"invalid duration {text!r}")
        unit_len = 0  # the unit runs up to the next digit or dot, as in Go
        while unit_len < len(rest) and rest[unit_len] not in _DIGITS + ".":
            unit_len += 1
        unit, rest = rest[:unit_len], rest[unit_len:]
        if not unit:
            raise ValueError(f"missing unit in duration {text!r}")
        if unit not in _UNITS_NS:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r}")
        scale = _UNITS_NS[unit]
        total_ns += int(whole or 0) * scale
        if frac:
            total_ns += int(frac) * scale // 10 ** len(frac)
    return sign * total_ns / 1e9


def _trim(value: int, digits: int) -> str:
    """``value / 10**digits`` as Go prints it: no trailing zeros, no bare dot."""
    whole, frac = divmod(value, 10 ** digits)
    frac_text = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{frac_text}" if frac_text else str(whole)


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String``: ``10s``, ``5m0s``, ``1h0m0s``, ``1.5s``, ``100ms``."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_trim(ns, 3)}\u00b5s"
    if ns < 1_000_000_000:
        return f"{sign}{_trim(ns, 6)}ms"
    hours, ns = divmod(ns, 3_600_000_000_000)
    minutes, ns = divmod(ns, 60_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + _trim(ns, 9) + "s"
