#!/bin/sh
# Quick start on a fresh Debian/Ubuntu machine, as root:
#   ./quickstart.sh suite [conformance run options] [-- pytest options]
#   ./quickstart.sh selftest [pytest options]
# Installs python3-venv if it is missing, makes .venv beside this script, installs the suite
# into it (editable), then runs the conformance suite on this kernel or the self-tests.
set -eu
cd "$(dirname "$0")"

usage() { echo "usage: $0 suite|selftest [args...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
what=$1; shift
case "$what" in suite|selftest) ;; *) usage ;; esac

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "quickstart: Python >= 3.11 is required (python3 is $(python3 -V 2>&1 || echo missing))" >&2
    exit 2
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
    else
        echo "quickstart: python3-venv is missing; install it (apt-get install python3-venv)" >&2
        exit 2
    fi
fi
case " $* " in
    *" --kernel"*)  # booting kernel images needs QEMU and busybox (virtme-ng's initramfs)
        if ! command -v qemu-system-x86_64 >/dev/null || ! command -v busybox >/dev/null; then
            if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
                apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                    --no-install-recommends qemu-system-x86 busybox-static
            fi
        fi ;;
esac
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[vm,test]'

case "$what" in
    suite) exec .venv/bin/conformance run "$@" ;;
    selftest) exec .venv/bin/python -m pytest tests "$@" ;;
esac
