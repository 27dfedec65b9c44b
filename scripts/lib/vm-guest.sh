#!/usr/bin/env bash
# scripts/lib/vm-guest.sh RUN-DIR — the guest side of scripts/vm. Runs as root,
# as the VM's only program (virtme-ng --exec), never on the host.
#
# RUN-DIR is the folder shared with the host (read-write). It holds `env` (written
# by scripts/vm: ROOT, CMD, VM_USER, VM_AS_ROOT, VM_KEEP_GOING, VM_OUT) and gets
# back:
#   setup.log   what this script did before CMD
#   output      CMD's standard output and error
#   status      CMD's exit status (the host reads it: vng does not pass it on)
#
# Before CMD: load tun (0666), run scripts/provision, make the user, and lay out
# cgroups the way systemd delegates them (Delegate=yes on user@UID.service):
#   /sys/fs/cgroup                         +cpu +cpuset +io +memory +pids
#     user.slice/user-UID.slice            root's; controllers handed down
#       session-1.scope                    root's: NOT delegated (tests use it)
#       user@UID.service                   the user's (dir, cgroup.procs,
#                                          cgroup.subtree_control, cgroup.threads)
#         app.slice/vm.scope               the user's; CMD runs here
# so CMD is like `systemd-run --user --scope -p Delegate=yes CMD` in a login.
set -u
RUN=$1
# shellcheck source=/dev/null
. "$RUN/env"

CG=/sys/fs/cgroup
SETUP_FAILED=0
exec 3>>"$RUN/setup.log"

uptime_s() { cut -d' ' -f1 /proc/uptime; }
log()  { printf 'vm-guest: [%6ss] %s\n' "$(uptime_s)" "$*" >&3; }
fail() { printf 'vm-guest: [%6ss] FAILED: %s\n' "$(uptime_s)" "$*" >&3; SETUP_FAILED=1; }
step() { local what=$1; shift; "$@" >&3 2>&3 || fail "$what (exit $?)"; }

finish() {   # finish STATUS
    printf '%s\n' "$1" >"$RUN/status.tmp" && mv "$RUN/status.tmp" "$RUN/status"
    sync
    exit 0
}

log "kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
[ "$(stat -f -c %T "$CG")" = cgroup2fs ] || fail "$CG is not cgroup2"
log "cgroup controllers: $(cat "$CG/cgroup.controllers")"

# --- /dev/net/tun and provisioning -------------------------------------------
step "modprobe tun" modprobe tun
[ -c /dev/net/tun ] && chmod 0666 /dev/net/tun
id -u "$VM_USER" >/dev/null 2>&1 || step "useradd $VM_USER" useradd -m -s /bin/bash "$VM_USER"
step "scripts/provision" env NSPOD_PROVISION_NO_APT=1 bash "$ROOT/scripts/provision" "$VM_USER"
[ "$(stat -c %a /dev/net/tun 2>/dev/null)" = 666 ] || fail "/dev/net/tun is not 0666 after provisioning"

uid=$(id -u "$VM_USER")
gid=$(id -g "$VM_USER")
home=$(getent passwd "$VM_USER" | cut -d: -f6)
[ -d "$home" ] || { mkdir -p "$home" && chown "$uid:$gid" "$home"; }

# --- cgroup delegation, as systemd does it -----------------------------------
enable_all() {   # enable_all CGROUP: hand every offered controller down
    local c
    for c in cpu cpuset io memory pids; do
        grep -qw "$c" "$1/cgroup.controllers" 2>/dev/null || continue
        echo "+$c" >"$1/cgroup.subtree_control" || fail "enabling $c in $1"
    done
}
SLICE=$CG/user.slice/user-$uid.slice
SERVICE=$SLICE/user@$uid.service
SCOPE=$SERVICE/app.slice/vm.scope
mkdir -p "$SLICE/session-1.scope" "$SCOPE" || fail "mkdir cgroups"
enable_all "$CG"
enable_all "$CG/user.slice"
enable_all "$SLICE"
# systemd hands over the directory and these three files of the delegated unit;
# the user's own manager then makes (and owns) everything below it.
chown "$uid:$gid" "$SERVICE" "$SERVICE/cgroup.procs" "$SERVICE/cgroup.subtree_control" \
    "$SERVICE/cgroup.threads" || fail "chown $SERVICE"
chown -R "$uid:$gid" "$SERVICE/app.slice" || fail "chown $SERVICE/app.slice"
log "delegated ${SERVICE#"$CG"} to $VM_USER ($(cat "$SERVICE/cgroup.controllers"))"

# XDG_RUNTIME_DIR, as logind makes it for a login.
RUNTIME=/run/user/$uid
install -d -m 0700 -o "$uid" -g "$gid" "$RUNTIME"

# --- where the user runs CMD ---------------------------------------------------
SRC=$ROOT
if [ "$VM_AS_ROOT" != 1 ] && ! runuser -u "$VM_USER" -- test -r "$ROOT/scripts/vm" -a -x "$ROOT"; then
    # The checkout is not readable by the user (e.g. under /root): show it elsewhere.
    SRC=/run/nspod-src
    if ! { mkdir -p "$SRC" && mount --bind "$ROOT" "$SRC"; }; then
        fail "bind-mounting $ROOT at $SRC"
    fi
    log "$ROOT is not readable by $VM_USER: using a bind mount at $SRC"
fi
PATHV=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
VENV=${ROOT}/.venv
if [ -x "$VENV/bin/python" ]; then
    PATHV=$SRC/.venv/bin:$PATHV
else
    log "no $VENV: CMD runs with the system python3"
fi

if [ "$SETUP_FAILED" = 1 ]; then
    if [ "$VM_KEEP_GOING" != 1 ]; then
        printf 'scripts/vm: the guest set-up failed; see below (--keep-going runs CMD anyway)\n' >"$RUN/output"
        cat "$RUN/setup.log" >>"$RUN/output"
        finish 1
    fi
    log "set-up failed; running CMD anyway (--keep-going)"
fi

ENVV=(HOME="$home" USER="$VM_USER" LOGNAME="$VM_USER" SHELL=/bin/bash PATH="$PATHV"
      LANG=C.UTF-8 XDG_RUNTIME_DIR="$RUNTIME" PYTHONPATH="$SRC"
      PYTEST_ADDOPTS="-p no:cacheprovider ${PYTEST_ADDOPTS:-}"
      NSPOD_VM=1 NSPOD_VM_CGROUP="${SCOPE#"$CG"}"
      NSPOD_VM_UNDELEGATED_CGROUP="${SLICE#"$CG"}/session-1.scope"
      NSPOD_VM_DELEGATED_ROOT="${SERVICE#"$CG"}")
[ -n "${VM_OUT:-}" ] && ENVV+=(NSPOD_VM_OUT="$VM_OUT")
[ -n "${CI:-}" ] && ENVV+=(CI="$CI")
for var in "${!VM_ENV_@}"; do ENVV+=("${var#VM_ENV_}=${!var}"); done

log "running as $([ "$VM_AS_ROOT" = 1 ] && echo root || echo "$VM_USER") in $SRC: ${CMD[*]}"
start=$(date +%s.%N)
(
    # Into the delegated scope first, as systemd-run --scope would put it.
    echo "$BASHPID" >"$SCOPE/cgroup.procs"
    if [ "$VM_AS_ROOT" = 1 ]; then
        exec env -i -C "$SRC" "${ENVV[@]}" HOME=/root USER=root LOGNAME=root "${CMD[@]}"
    fi
    exec runuser -u "$VM_USER" -- env -i -C "$SRC" "${ENVV[@]}" "${CMD[@]}"
) </dev/null >"$RUN/output" 2>&1
rc=$?
log "CMD exited with $rc after $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
finish "$rc"
