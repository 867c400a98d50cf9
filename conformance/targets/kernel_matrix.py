"""`python -m conformance.targets.kernel_matrix IMAGE...`: conformance run with one --kernel per
image (the tox `kernel` environment's entry point, so images can be plain posargs)."""
import sys

from conformance import cli

if __name__ == "__main__":
    images = sys.argv[1:]
    if not images:
        print("conformance: give one or more kernel images, e.g. "
              "tox -e kernel -- /boot/vmlinuz-$(uname -r)", file=sys.stderr)
        sys.exit(2)
    sys.exit(cli.main(["run", *(a for img in images for a in ("--kernel", img))]))
