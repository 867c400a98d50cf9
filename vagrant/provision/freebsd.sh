#!/bin/sh
# Provision a FreeBSD 14.x/15.x guest for the conformance suite (run as root by Vagrant; safe to
# run again): python3 (the ports tree's default flavour), its pip and rsync from pkg, then a venv
# in /opt/conformance/venv with tox and the suite (editable, from the rsynced /vagrant) from
# PyPI, or with no index from CONFORMANCE_WHEELHOUSE when that directory is set.
set -eu
SRC=${CONFORMANCE_SRC:-/vagrant}
VENV=/opt/conformance/venv
WHEELHOUSE=${CONFORMANCE_WHEELHOUSE:-}

say() { printf 'provision: %s\n' "$*"; }
die() { printf 'provision: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (Vagrant's shell provisioner does)"
[ -f "$SRC/pyproject.toml" ] || die "$SRC/pyproject.toml is missing: the rsync synced folder did not arrive"

export ASSUME_ALWAYS_YES=yes
pkg -N >/dev/null 2>&1 || pkg bootstrap -f
for p in python3 rsync; do
    pkg info -e "$p" || pkg install -y "$p"
done
# Packages carry the default flavour's prefix (py311-, later py312-...): work it out here.
pyv=$(python3 -c 'import sys; print("py%d%d" % sys.version_info[:2])')
pkg info -e "$pyv-pip" || pkg install -y "$pyv-pip"

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python >= 3.11 is required; this guest has $(python3 -V 2>&1)"

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"

stamp=$(
    { cat "$SRC/pyproject.toml"; [ -z "$WHEELHOUSE" ] || ls "$WHEELHOUSE"; } | sha256 -q
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
say "ready: $("$VENV/bin/python" -V), FreeBSD $(freebsd-version -k)"
