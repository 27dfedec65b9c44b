#!/usr/bin/env bash
# scripts/lib/testuser.sh — the unprivileged user that integration tests run as.
#
# Sourced by scripts/test; also a small command for people (run as root):
#   scripts/lib/testuser.sh prepare        make the user and a tree it can use; print where
#   scripts/lib/testuser.sh run CMD...     run CMD as that user, in the same clean
#                                          environment the integration tier gets
#   e.g. scripts/lib/testuser.sh run nspod ps
#        scripts/lib/testuser.sh run bash
#
# The test user gets a clean environment, as after `su` from root: HOME, USER,
# LOGNAME, PATH (the venv's bin first), LANG=C.UTF-8, CI (if set), NSPOD_* from the
# caller (except the harness's own NSPOD_TEST_* and NSPOD_VENV) and TU_EXTRA_ENV.
# XDG_RUNTIME_DIR is deliberately unset: nspod must handle that case.
#
# Where: if the user can read the checkout and run its .venv/bin/python, the tests
# run in place. If not (e.g. the checkout is under /root, mode 0700), the checkout
# minus .venv/.git is copied to $TU_STAGE/src and a venv is built for the user in
# $TU_STAGE/venv (kept between runs; rebuilt only when pyproject.toml changes).
#
# Environment (all optional):
#   NSPOD_TEST_USER           user name (default nspodtest)
#   NSPOD_TEST_STAGE          staging folder (default /var/tmp/nspod-test)
#   NSPOD_TEST_FORCE_STAGING  1 = always use the staging copy (to test that path)

TU_NAME=${NSPOD_TEST_USER:-nspodtest}
TU_STAGE=${NSPOD_TEST_STAGE:-/var/tmp/nspod-test}
TU_SUBID_COUNT=65536
TU_ROOT=${TU_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
TU_HOME=
TU_SRC=        # set by tu_prepare: the tree the user runs tests in
TU_VENV=       # set by tu_prepare: the venv the user runs
TU_MODE=       # set by tu_prepare: in-place | staged
TU_EXTRA_ENV=()

tu_say() { printf 'testuser: %s\n' "$*" >&2; }

# A subordinate id range of at least 65536 ids for the user in FILE.
tu_ensure_subids() {   # tu_ensure_subids /etc/subuid|/etc/subgid --add-subuids|--add-subgids
    local file=$1 flag=$2 uid start
    uid=$(id -u "$TU_NAME")
    [ -e "$file" ] || : >"$file"
    if awk -F: -v n="$TU_NAME" -v u="$uid" -v c="$TU_SUBID_COUNT" \
        '($1 == n || $1 == u) && $3 >= c { found = 1 } END { exit !found }' "$file"; then
        return 0
    fi
    # The first free start above every existing range (and at least 100000).
    start=$(awk -F: 'NF >= 3 && $2 + $3 > max { max = $2 + $3 }
                     END { print (max < 100000 ? 100000 : max) }' "$file")
    tu_say "adding $file range $start-$((start + TU_SUBID_COUNT - 1)) for $TU_NAME"
    usermod "$flag" "$start-$((start + TU_SUBID_COUNT - 1))" "$TU_NAME"
}

tu_ensure_user() {
    if ! id -u "$TU_NAME" >/dev/null 2>&1; then
        tu_say "creating user $TU_NAME"
        useradd -m -s /bin/bash "$TU_NAME"
    fi
    TU_HOME=$(getent passwd "$TU_NAME" | cut -d: -f6)
    if [ ! -d "$TU_HOME" ]; then
        install -d -m 0755 -o "$TU_NAME" -g "$(id -g "$TU_NAME")" "$TU_HOME"
    fi
    tu_ensure_subids /etc/subuid --add-subuids
    tu_ensure_subids /etc/subgid --add-subgids
}

# A folder owned by the user: created fresh if it is missing, a symlink or not theirs.
tu_user_dir() {
    local d=$1
    if [ -L "$d" ] || { [ -e "$d" ] && [ "$(stat -c %U "$d")" != "$TU_NAME" ]; }; then
        rm -rf "$d"
    fi
    install -d -m 0755 -o "$TU_NAME" -g "$(id -g "$TU_NAME")" "$d"
}

# Run CMD as the test user in DIR, with the clean environment described above.
tu_run_in() {   # tu_run_in DIR CMD...
    local dir=$1 var
    shift
    local envv=(HOME="$TU_HOME" USER="$TU_NAME" LOGNAME="$TU_NAME" SHELL=/bin/bash
                PATH="$TU_VENV/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8)
    [ -n "${CI:-}" ] && envv+=(CI="$CI")
    for var in $(compgen -e); do
        case $var in
            NSPOD_TEST_*|NSPOD_VENV) ;;
            NSPOD_*) envv+=("$var=${!var}") ;;
        esac
    done
    envv+=("${TU_EXTRA_ENV[@]}")
    (cd / && runuser -u "$TU_NAME" -- env -i -C "$dir" "${envv[@]}" "$@")
}

# Can the user read the checkout and run its venv's python with nspod importable?
tu_can_use_checkout() {
    local venv=${NSPOD_VENV:-$TU_ROOT/.venv}
    [ "${NSPOD_TEST_FORCE_STAGING:-0}" = 1 ] && return 1
    (cd / && runuser -u "$TU_NAME" -- \
        test -r "$TU_ROOT/pyproject.toml" -a -x "$TU_ROOT/tests" -a -x "$venv/bin/python") \
        || return 1
    (cd / && runuser -u "$TU_NAME" -- env -i PATH=/usr/bin:/bin \
        "$venv/bin/python" -I -c 'import nspod, pytest') >/dev/null 2>&1
}

# Copy the checkout to $TU_STAGE/src (owned by the user) and build $TU_STAGE/venv.
tu_stage() {
    TU_SRC=$TU_STAGE/src
    TU_VENV=$TU_STAGE/venv
    tu_say "$TU_NAME cannot use $TU_ROOT in place; copying it to $TU_SRC"
    rm -rf "$TU_SRC"
    install -d -m 0755 "$TU_SRC"
    tar -C "$TU_ROOT" -cf - \
        --exclude=./.venv --exclude=./.git --exclude=./.vm \
        --exclude=./build --exclude=./dist --exclude='*.egg-info' \
        --exclude=__pycache__ --exclude=.pytest_cache . |
        tar -C "$TU_SRC" -xf -
    chown -R -h "$TU_NAME:$(id -g "$TU_NAME")" "$TU_SRC"
    # The user's own setup run: it checks the host and builds/refreshes the venv.
    # (It asks nothing of root: the root run of scripts/setup did the packages.)
    TU_EXTRA_ENV=(NSPOD_VENV="$TU_VENV")
    local rc=0
    tu_run_in "$TU_SRC" bash "$TU_SRC/scripts/setup" || rc=$?
    TU_EXTRA_ENV=()
    return "$rc"
}

# Make the user and a tree it can run the tests in; sets TU_SRC, TU_VENV, TU_MODE.
tu_prepare() {
    [ "$(id -u)" -eq 0 ] || { tu_say "must run as root"; return 1; }
    tu_ensure_user || return 1
    tu_user_dir "$TU_STAGE" || return 1
    if tu_can_use_checkout; then
        TU_MODE=in-place
        TU_SRC=$TU_ROOT
        TU_VENV=${NSPOD_VENV:-$TU_ROOT/.venv}
    else
        TU_MODE=staged
        tu_stage || { tu_say "building the staging tree in $TU_STAGE failed"; return 1; }
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case ${1:-} in
        prepare)
            tu_prepare
            printf 'user=%s uid=%s mode=%s src=%s venv=%s stage=%s\n' \
                "$TU_NAME" "$(id -u "$TU_NAME")" "$TU_MODE" "$TU_SRC" "$TU_VENV" "$TU_STAGE"
            ;;
        run)
            shift
            [ "$#" -gt 0 ] || set -- bash
            tu_prepare >&2
            exec_rc=0
            tu_run_in "$TU_SRC" "$@" || exec_rc=$?
            exit "$exec_rc"
            ;;
        *)
            sed -n '2,9s/^# \{0,1\}//p' "$0" >&2
            exit 2
            ;;
    esac
fi
