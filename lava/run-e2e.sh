#!/bin/sh
# The whole LAVA round trip on one machine, no LAVA server: build the inputs, write the job with
# `conformance lava-job`, run it with Debian's `lava-run` (QEMU under TCG, no network device in
# the guest), read it back with `conformance lava-results`, and compare the verdicts with a
# direct `conformance run --kernel` results directory when one is given. Root; needs
# lava-dispatcher (apt-get install lava-dispatcher), qemu-system-x86, libguestfs (pulled in by
# lava-dispatcher) and the Debian test box (vagrant/testbox/build-box.sh, cached).
#
#   lava/run-e2e.sh [DIRECT_RESULTS_DIR]
#
# Knobs: LAVA_KERNEL (/boot/vmlinuz-6.1.0-57-amd64), LAVA_INITRD (its /boot/initrd.img-*),
# LAVA_WORK (/var/tmp/conformance-lava; the job's files, log and results), LAVA_TIMEOUT
# (minutes, 60), PYTHON (the suite's venv python: .venv/bin/python).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
KERNEL=${LAVA_KERNEL:-/boot/vmlinuz-6.1.0-57-amd64}
RELEASE=$(basename "$KERNEL" | sed 's/^vmlinuz-//')
INITRD=${LAVA_INITRD:-/boot/initrd.img-$RELEASE}
WORK=${LAVA_WORK:-/var/tmp/conformance-lava}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
DIRECT=${1:-}

say() { printf 'lava-e2e: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (lava-run, libguestfs, QEMU)"
for tool in lava-run qemu-system-x86_64 qemu-img tar; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install lava-dispatcher)"
done
[ -r "$KERNEL" ] || die "no kernel $KERNEL"
[ -d "/lib/modules/$RELEASE" ] || die "no /lib/modules/$RELEASE for $KERNEL"
t0=$(date +%s)

box_dir=$("$REPO/vagrant/testbox/build-box.sh" | tail -n 1)
mkdir -p "$WORK/inputs"
if [ ! -f "$WORK/inputs/rootfs.ext4.done" ]; then
    say "rootfs: the test box's disk image as a raw ext4 image"
    tar -xOf "$box_dir/conformance-debian.box" box.img >"$WORK/inputs/box.qcow2"
    qemu-img convert -O raw "$WORK/inputs/box.qcow2" "$WORK/inputs/rootfs.ext4"
    rm -f "$WORK/inputs/box.qcow2"
    # 4 GiB, 1 GiB used: LAVA copies the whole file (not sparse) and libguestfs opens it; 2 GiB
    # leave room for the modules (0.4 GiB), the overlay and the suite's venv
    e2fsck -fy "$WORK/inputs/rootfs.ext4" >/dev/null || [ $? -le 1 ] || die "e2fsck failed"
    resize2fs "$WORK/inputs/rootfs.ext4" 2G >/dev/null 2>&1 || die "resize2fs failed"
    truncate -s 2G "$WORK/inputs/rootfs.ext4"
    : >"$WORK/inputs/rootfs.ext4.done"
fi
# the modules of the kernel under test, and its config: the suite's probes read
# /proc/config.gz, else /boot/config-RELEASE (a Debian kernel has no /proc/config.gz)
modules=$WORK/inputs/modules-$RELEASE.tar
[ -f "$modules" ] || tar -C / -cf "$modules" "lib/modules/$RELEASE" "boot/config-$RELEASE"

say "test definition bundle: lava/ and a wheelhouse (the suite from this tree and its deps)"
rm -rf "$WORK/bundle" && mkdir -p "$WORK/bundle/wheels"
"$PYTHON" -m pip wheel -q --disable-pip-version-check -w "$WORK/bundle/wheels" "$REPO" \
    || die "building the wheelhouse failed"
cp -r "$REPO/lava" "$WORK/bundle/lava"
tar -C "$WORK/bundle" -czf "$WORK/bundle.tar.gz" lava wheels

"$PYTHON" -m conformance.cli lava-job --kernel "$KERNEL" --initrd "$INITRD" \
    --rootfs "$WORK/inputs/rootfs.ext4" --modules "$modules" \
    --testdef-url "$WORK/bundle.tar.gz" --wheelhouse wheels --timeout "${LAVA_TIMEOUT:-60}" \
    -o "$WORK/job.yaml"
t1=$(date +%s)

say "lava-run (QEMU TCG; libguestfs forced to TCG: /dev/kvm is not usable everywhere)"
rm -rf "$WORK/lava-run" "$WORK/output.yaml"
mkdir -p "$WORK/lava-run"
rc=0
LIBGUESTFS_BACKEND_SETTINGS=force_tcg lava-run --job-id 1 --output-dir "$WORK/lava-run" \
    --device "$REPO/lava/device-qemu-tcg.yaml" "$WORK/job.yaml" 2>"$WORK/output.yaml" \
    >"$WORK/lava-run.out" || rc=$?  # lava-run logs to stderr, one JSON record a line
t2=$(date +%s)
say "lava-run exited $rc after $((t2 - t1)) s; log: $WORK/output.yaml"

rm -rf "$WORK/results"
rc=0
"$PYTHON" -m conformance.cli lava-results "$WORK/output.yaml" --results "$WORK/results" || rc=$?
[ "$rc" -le 1 ] || die "lava-results could not read the job (exit $rc)"
run_dir=$(find "$WORK/results" -mindepth 1 -maxdepth 1 -type d | head -n 1)
if [ -n "$DIRECT" ]; then
    say "verdicts: direct run $DIRECT against the LAVA run $run_dir"
    "$PYTHON" -m conformance.lava.verdicts "$DIRECT" "$run_dir" || rc=$?
fi
t3=$(date +%s)
say "done in $((t3 - t0)) s (inputs $((t1 - t0)) s, lava-run $((t2 - t1)) s); run: $run_dir"
exit "$rc"
