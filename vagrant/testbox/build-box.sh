#!/bin/sh
# Build an offline Debian box for vagrant-libvirt, plus the kernel and initrd for direct kernel
# boot. Idempotent: the output directory is named by a hash of the inputs (this script, the
# suite, the mirror, the package list, the disk size and Vagrant's insecure public key), and a
# finished build is reused. Needs root, debootstrap, e2fsprogs (mkfs.ext4 -d), qemu-utils.
#
#   vagrant/testbox/build-box.sh            # prints the output directory on its last line
#
# Output directory (TESTBOX_CACHE/<hash>/): conformance-debian.box (box.img, metadata.json,
# Vagrantfile), vmlinuz, initrd.img, cmdline. Knobs: TESTBOX_CACHE (/var/cache/conformance-testbox),
# TESTBOX_SUITE (bookworm), TESTBOX_MIRROR (http://deb.debian.org/debian), TESTBOX_SIZE_GB (4),
# VAGRANT_INSECURE_PUBKEY (found in the vagrant installation when unset).
set -eu

SUITE=${TESTBOX_SUITE:-bookworm}
MIRROR=${TESTBOX_MIRROR:-http://deb.debian.org/debian}
SIZE_GB=${TESTBOX_SIZE_GB:-4}
CACHE=${TESTBOX_CACHE:-/var/cache/conformance-testbox}
PACKAGES=systemd-sysv,openssh-server,sudo,ifupdown,isc-dhcp-client,iproute2,python3,python3-venv,linux-image-amd64,rsync
CMDLINE="root=/dev/vda ro console=ttyS0 net.ifnames=0 biosdevname=0"

say() { printf 'build-box: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mkfs.ext4 -d with owners)"
for tool in debootstrap mkfs.ext4 qemu-img tar sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install debootstrap e2fsprogs qemu-utils)"
done

find_pubkey() {
    if [ -n "${VAGRANT_INSECURE_PUBKEY:-}" ]; then echo "$VAGRANT_INSECURE_PUBKEY"; return; fi
    for k in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub \
             /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub \
             /opt/vagrant/embedded/gems/vagrant-*/keys/vagrant.pub; do
        if [ -f "$k" ]; then echo "$k"; return; fi
    done
    die "Vagrant's insecure public key not found; install vagrant or set VAGRANT_INSECURE_PUBKEY"
}
pubkey=$(find_pubkey)

hash=$({ cat "$0"; echo "$SUITE $MIRROR $PACKAGES $SIZE_GB $CMDLINE"; cat "$pubkey"; } \
       | sha256sum | cut -c1-16)
out=$CACHE/$hash
if [ -f "$out/done" ]; then
    say "cached: $out"
    echo "$out"
    exit 0
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
cleanup() {
    # a failed debootstrap can leave /proc or /sys mounted inside the tree
    for m in "$work/root/proc" "$work/root/sys" "$work/root/dev/pts"; do
        if mountpoint -q "$m" 2>/dev/null; then umount -l "$m"; fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
root=$work/root

t0=$(date +%s)
say "debootstrap $SUITE (minbase) from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
t1=$(date +%s)
say "debootstrap took $((t1 - t0)) s"

say "configuring the guest"
echo conformance-testbox >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 conformance-testbox\n::1 localhost ip6-localhost ip6-loopback\n' \
    >"$root/etc/hosts"
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' >"$root/etc/fstab"
printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' \
    >"$root/etc/network/interfaces"
chroot "$root" useradd --create-home --shell /bin/bash --user-group vagrant
echo vagrant:vagrant | chroot "$root" chpasswd
echo root:vagrant | chroot "$root" chpasswd
printf 'vagrant ALL=(ALL) NOPASSWD: ALL\nDefaults:vagrant !requiretty\n' >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
install -d -m 0700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$pubkey" "$root/home/vagrant/.ssh/authorized_keys"
[ "$(chroot "$root" id -u vagrant)" = 1000 ] || die "the vagrant user did not get uid 1000"
printf 'UseDNS no\n' >"$root/etc/ssh/sshd_config.d/vagrant.conf"
# Every VM gets its own host keys at first boot, not the ones generated at build time.
rm -f "$root"/etc/ssh/ssh_host_*
install -d "$root/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
    >"$root/etc/systemd/system/ssh.service.d/hostkeys.conf"
# A fresh machine id per VM (systemd makes one at boot when the file is empty).
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log

kernel=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)
initrd=$(find "$root/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n 1)
if [ -z "$kernel" ] || [ -z "$initrd" ]; then die "no kernel or initrd in $root/boot"; fi
mkdir -p "$work/out" "$work/box"
cp "$kernel" "$work/out/vmlinuz"
cp "$initrd" "$work/out/initrd.img"
chmod 0644 "$work/out/vmlinuz" "$work/out/initrd.img"
echo "$CMDLINE" >"$work/out/cmdline"
basename "$kernel" | sed 's/^vmlinuz-//' >"$work/out/release"

say "mkfs.ext4 -d on a ${SIZE_GB} GiB raw file, then qcow2"
truncate -s "${SIZE_GB}G" "$work/disk.raw"
mkfs.ext4 -q -F -L root -d "$root" "$work/disk.raw"
qemu-img convert -c -O qcow2 "$work/disk.raw" "$work/box/box.img"
rm -f "$work/disk.raw"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%s}\n' "$SIZE_GB" \
    >"$work/box/metadata.json"
cat >"$work/box/Vagrantfile" <<'EOF'
# Defaults shipped inside the conformance test box (built by vagrant/testbox/build-box.sh).
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
  end
end
EOF
tar -C "$work/box" -cf "$work/out/conformance-debian.box" metadata.json Vagrantfile box.img
t2=$(date +%s)
say "image and box took $((t2 - t1)) s"

date -u +%Y-%m-%dT%H:%M:%SZ >"$work/out/done"
rm -rf "$out"
mv "$work/out" "$out"
say "built $out ($(du -sh "$out" | cut -f1)) in $((t2 - t0)) s"
echo "$out"
