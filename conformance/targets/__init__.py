"""Targets: where a run happens (host; a kernel image under QEMU; a Vagrant machine)."""
