#!/bin/sh
# Provision a Debian or Ubuntu guest for the conformance suite (run as root by Vagrant; safe to
# run again): Python >= 3.11, venv, pip and rsync from apt, then a venv in /opt/conformance/venv
# with tox and the suite (editable, from the rsynced /vagrant) from PyPI, or with no index from
# CONFORMANCE_WHEELHOUSE when that directory is set (air-gapped runs, the offline test box).
set -eu
SRC=${CONFORMANCE_SRC:-/vagrant}
VENV=/opt/conformance/venv
WHEELHOUSE=${CONFORMANCE_WHEELHOUSE:-}

say() { printf 'provision: %s\n' "$*"; }
die() { printf 'provision: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (Vagrant's shell provisioner does)"
[ -f "$SRC/pyproject.toml" ] || die "$SRC/pyproject.toml is missing: the rsync synced folder did not arrive"

# apt: only what is missing, so a second run (or an offline box that has it all) needs no network.
missing=""
wanted="python3 python3-venv rsync"
[ -n "$WHEELHOUSE" ] || wanted="$wanted python3-pip"
for pkg in $wanted; do
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    say "apt-get install$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086  # a list of package names
    apt-get install -y -q --no-install-recommends $missing
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python >= 3.11 is required; this guest has $(python3 -V 2>&1)"

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"

# Reinstall only when the project's metadata or the wheelhouse changed.
stamp=$(
    { cat "$SRC/pyproject.toml"; [ -z "$WHEELHOUSE" ] || ls "$WHEELHOUSE"; } | sha256sum | cut -d' ' -f1
)
if [ "$(cat "$VENV/.conformance-stamp" 2>/dev/null)" = "$stamp" ] \
        && "$VENV/bin/python" -c 'import conformance, pytest, tox' 2>/dev/null; then
    say "suite already installed in $VENV"
else
    if [ -n "$WHEELHOUSE" ]; then
        set -- --no-index --find-links "$WHEELHOUSE"
    else
        set --
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    fi
    say "pip install tox and the suite (editable, $SRC) into $VENV${WHEELHOUSE:+ from $WHEELHOUSE}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" tox -e "$SRC"
    echo "$stamp" >"$VENV/.conformance-stamp"
fi
ln -sf "$VENV/bin/tox" /usr/local/bin/tox
ln -sf "$VENV/bin/conformance" /usr/local/bin/conformance
say "ready: $("$VENV/bin/python" -V), kernel $(uname -r)"
