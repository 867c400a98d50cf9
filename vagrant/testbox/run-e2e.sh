#!/bin/sh
# The whole Vagrant path, offline, inside a private network namespace:
#   build (or reuse) the Debian test box -> start virtlogd and libvirtd inside namespace NS ->
#   `vagrant box add` -> `vagrant up linux` (libvirt, direct kernel boot, provisioning from a
#   local wheelhouse) -> `conformance run --kernel host --vagrant linux` (the vagrant target:
#   suite in the guest, results copied back, one combined table) -> check that results.json
#   carries the guest's kernel release -> `vagrant destroy`, daemons stopped by PID, the
#   namespace deleted. Teardown runs on failure and on interrupt too (trap).
#
#   vagrant/testbox/run-e2e.sh [-- PYTEST-ARGS]      as root, from anywhere
#
# Knobs: RESULTS_DIR (results), TESTBOX_DRIVER (qemu = TCG; kvm where /dev/kvm works),
# TESTBOX_WITH_HOST (1: also run the host suite for the combined table; 0: the VM only),
# TESTBOX_VM_DEADLINE (1800 s for the guest suite), TESTBOX_VERDICTS (fail: the exit status is
# the suite's, 1 when a test failed; report: 0 once the path worked, the verdicts only printed),
# plus build-box.sh's TESTBOX_* knobs. Exit 2: the path itself broke (nothing to do with verdicts).
# The libvirt management network (a bridge with a private /24) and every VM address exist only
# inside NS: libvirtd, virtlogd and every vagrant command run under `ip netns exec NS`.
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/vagrant/testbox
RESULTS_DIR=${RESULTS_DIR:-results}
DRIVER=${TESTBOX_DRIVER:-qemu}
WITH_HOST=${TESTBOX_WITH_HOST:-1}
VM_DEADLINE=${TESTBOX_VM_DEADLINE:-1800}
VERDICTS=${TESTBOX_VERDICTS:-fail}
NS=conformance-vagrant-$$
[ "${1:-}" = "--" ] && shift

say() { printf 'e2e: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }
now() { date +%s; }
nsx() { ip netns exec "$NS" "$@"; }
T0=$(now)
step_start=$T0
TIMINGS=""
step() {  # step NAME: close the previous step's timing and announce the next one
    t=$(now)
    if [ -n "${step_name:-}" ]; then
        TIMINGS="$TIMINGS$(printf '%-28s %5s s' "$step_name" $((t - step_start)))\n"
    fi
    step_name=$1
    step_start=$t
    [ "$1" = end ] || say "== $1"
}

[ "$(id -u)" = 0 ] || die "needs root (network namespace, libvirtd, debootstrap)"
for tool in ip vagrant libvirtd virtlogd virsh dnsmasq rsync timeout; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install vagrant vagrant-libvirt libvirt-daemon-system dnsmasq-base rsync"
done
vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt || die "the vagrant-libvirt plugin is missing: apt-get install vagrant-libvirt"
if pgrep -x libvirtd >/dev/null || pgrep -x virtlogd >/dev/null; then
    die "a libvirtd or virtlogd is already running; this script starts its own inside a private network namespace and cannot share them"
fi

WORK=$(mktemp -d /tmp/conformance-e2e.XXXXXX)
export VAGRANT_HOME="$WORK/vagrant.d" VAGRANT_DOTFILE_PATH="$WORK/dot-vagrant"
export VAGRANT_DEFAULT_PROVIDER=libvirt VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_COLOR=1
POOL_EXISTED=unknown
LIBVIRT_BEFORE=""

CHILD=""
bg() {  # run a long step (an external command) in the background, so a signal reaches the trap at once
    "$@" &
    CHILD=$!
    wait "$CHILD"
    child_rc=$?
    CHILD=""
    return "$child_rc"
}

# shellcheck disable=SC2317  # called by the trap
teardown() {
    rc=$?
    trap - EXIT INT TERM
    set +e
    step teardown
    if [ -n "$CHILD" ]; then  # interrupted in a step: stop it (its process group) first
        kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null
        deadline=$(($(now) + 20))
        while kill -0 "$CHILD" 2>/dev/null && [ "$(now)" -lt "$deadline" ]; do sleep 1; done
        kill -KILL -- "-$CHILD" 2>/dev/null || kill -KILL "$CHILD" 2>/dev/null
    fi
    if [ -n "$LIBVIRT_BEFORE" ]; then
        nsx timeout -k 10 300 vagrant destroy -f linux >&2
        # What vagrant could not remove (an interrupted `vagrant up`): the domains, volumes and
        # networks that were not there before this run, and the pool if this run made it.
        for dom in $(nsx virsh -q list --all --name); do
            if ! grep -qx "dom $dom" "$LIBVIRT_BEFORE"; then
                nsx virsh -q destroy "$dom" >/dev/null 2>&1
                nsx virsh -q undefine "$dom" --remove-all-storage >/dev/null 2>&1
            fi
        done
        for vol in $(nsx virsh -q vol-list default 2>/dev/null | awk '{print $1}'); do
            grep -qx "vol $vol" "$LIBVIRT_BEFORE" || nsx virsh -q vol-delete --pool default "$vol" >/dev/null
        done
        if [ "$POOL_EXISTED" = no ]; then
            nsx virsh -q pool-destroy default >/dev/null 2>&1
            nsx virsh -q pool-undefine default >/dev/null 2>&1
        fi
        for net in $(nsx virsh -q net-list --all --name); do
            if ! grep -qx "net $net" "$LIBVIRT_BEFORE"; then
                nsx virsh -q net-destroy "$net" >/dev/null 2>&1
                nsx virsh -q net-undefine "$net" >/dev/null 2>&1
            fi
        done
    fi
    for daemon in libvirtd virtlogd; do
        pid=$(cat "$WORK/$daemon.pid" 2>/dev/null)
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
    done
    # Whatever still runs inside the namespace was started by this run (dnsmasq, QEMU).
    if ip netns pids "$NS" >/dev/null 2>&1; then
        for pid in $(ip netns pids "$NS"); do kill "$pid" 2>/dev/null; done
        deadline=$(($(now) + 15))
        while [ -n "$(ip netns pids "$NS" 2>/dev/null)" ] && [ "$(now)" -lt "$deadline" ]; do sleep 1; done
        for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns delete "$NS"
    fi
    rm -rf "$WORK"
    step end
    [ -z "$TIMINGS" ] || { say "timings:"; printf '%b' "$TIMINGS" >&2; }
    say "total $(($(now) - T0)) s, exit $rc"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

step "build box"
boxdir=$("$HERE/build-box.sh" | tail -n 1) || die "building the box failed"
[ -f "$boxdir/done" ] || die "building the box failed"
hash=$(basename "$boxdir")
BOX=conformance-testbox-$hash

step "wheelhouse"
# The guest has no network: provisioning installs tox and the suite's dependencies from here.
venv=$REPO/.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$REPO" || die "pip install -e $REPO failed"
wheelhouse=${TESTBOX_CACHE:-/var/cache/conformance-testbox}/wheelhouse-$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)
if [ ! -f "$wheelhouse/done" ]; then
    rm -rf "$wheelhouse"
    "$venv/bin/python" -m pip wheel -q --disable-pip-version-check -w "$wheelhouse" \
        "setuptools>=68" wheel tox "$REPO" || die "building the wheelhouse failed"
    : >"$wheelhouse/done"
fi
export CONFORMANCE_WHEELHOUSE="$wheelhouse"
export CONFORMANCE_LINUX_BOX="$BOX" CONFORMANCE_LIBVIRT_DRIVER="$DRIVER"
export CONFORMANCE_LINUX_KERNEL="$boxdir/vmlinuz" CONFORMANCE_LINUX_INITRD="$boxdir/initrd.img"
CONFORMANCE_LINUX_CMDLINE=$(cat "$boxdir/cmdline")
export CONFORMANCE_LINUX_CMDLINE

step "namespace and daemons"
ip netns add "$NS" || die "cannot create network namespace $NS"
ip -n "$NS" link set lo up
nsx virtlogd -d -p "$WORK/virtlogd.pid"
nsx libvirtd -d -p "$WORK/libvirtd.pid"
deadline=$(($(now) + 60))
until nsx virsh -q version >/dev/null 2>&1; do
    [ "$(now)" -lt "$deadline" ] || die "libvirtd did not answer within 60 s"
    sleep 1
done
if nsx virsh -q pool-info default >/dev/null 2>&1; then POOL_EXISTED=yes; else POOL_EXISTED=no; fi
{   # what libvirt already had: the teardown removes only what this run added
    nsx virsh -q list --all --name | sed 's/^/dom /'
    nsx virsh -q vol-list default 2>/dev/null | awk '{print "vol " $1}'
    nsx virsh -q net-list --all --name | sed 's/^/net /'
} >"$WORK/libvirt.before"
LIBVIRT_BEFORE=$WORK/libvirt.before

step "vagrant box add"
bg ip netns exec "$NS" timeout -k 10 300 vagrant box add --name "$BOX" "$boxdir/conformance-debian.box" >&2 \
    || die "vagrant box add failed"

cd "$REPO"
step "vagrant up linux (boot)"
bg ip netns exec "$NS" timeout -k 10 900 vagrant up linux --provider libvirt --no-provision >&2 \
    || die "vagrant up linux failed (libvirt's log: /var/log/libvirt/qemu/)"
step "vagrant provision linux"
bg ip netns exec "$NS" timeout -k 10 1200 vagrant provision linux >&2 || die "vagrant provision linux failed"

step "suite in the guest"
set -- --results "$RESULTS_DIR" --vm-deadline "$VM_DEADLINE" --vagrant linux -- "$@"
[ "$WITH_HOST" = 0 ] || set -- --kernel host "$@"
suite_rc=0
bg ip netns exec "$NS" timeout -k 10 $((VM_DEADLINE + 600)) "$venv/bin/conformance" run "$@" || suite_rc=$?
[ "$suite_rc" -le 1 ] || die "conformance run could not run the suites (exit $suite_rc)"

step "check results"
if "$venv/bin/python" - "$RESULTS_DIR" "$(cat "$boxdir/release")" "$T0" <<'EOF'
import json, sys
from pathlib import Path
runs = sorted((p for p in Path(sys.argv[1]).glob("*-vagrant-linux-*/")
               if p.stat().st_mtime >= int(sys.argv[3])), key=lambda p: p.stat().st_mtime)
if not runs:
    sys.exit(f"e2e: no vagrant-linux run under {sys.argv[1]}")
run, want = runs[-1], sys.argv[2]
r = json.loads((run / "results.json").read_text())
got = r["kernel"]["release"]
errors = [t["nodeid"] for t in r["tests"] if t["nodeid"].startswith("vagrant/")]
print(f"e2e: {run}/results.json: target {r['run']['target']}, guest kernel {got}, "
      f"{len(r['tests'])} tests", file=sys.stderr)
if got != want or not r["tests"] or errors:
    sys.exit(f"e2e: expected the guest kernel {want} and guest test results; got {got}, {errors}")
EOF
then :; else die "the guest's results did not come back as expected"; fi
if [ "$suite_rc" != 0 ] && [ "$VERDICTS" = report ]; then
    say "the suites reported failures (conformance exit $suite_rc); TESTBOX_VERDICTS=report: not failing the path"
    suite_rc=0
fi
exit "$suite_rc"   # the teardown (trap) destroys the VM and stops everything
