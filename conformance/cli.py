"""`conformance`: run | clauses (and the commands listed in COMMANDS).

Exit status: 0 nothing failed or errored; 1 failures; 2 bad usage or an environment that
cannot run the suite (one line on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from conformance.targets.kernel import TargetError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

# Each module in conformance/commands/ provides NAME, HELP, add_arguments(parser) and
# main(ns, pytest_args, argv) -> int. Only commands with PASSES_PYTEST_ARGS take `-- ARGS`.
COMMANDS = ["run", "clauses", "compare", "report", "bisect", "matrix", "lava-job", "lava-results"]


class UsageError(Exception):
    """Bad input or an environment that cannot run: reported in one line, exit 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def _modules() -> dict:
    return {name: importlib.import_module(f"conformance.commands.{name.replace('-', '_')}")
            for name in COMMANDS}


def _parser(modules: dict) -> argparse.ArgumentParser:
    p = Parser(prog="conformance", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, mod in modules.items():
        mod.add_arguments(sub.add_parser(name, help=mod.HELP, description=mod.__doc__))
    return p


def _input_errors() -> tuple[type[Exception], ...]:
    """The errors of the files a command reads (catalogs, known failures, results)."""
    from conformance.catalog import CatalogError
    from conformance.results.known_failures import KnownFailuresError
    from conformance.results.model import ResultsError
    return CatalogError, KnownFailuresError, ResultsError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv \
        else (argv, [])
    try:
        modules = _modules()
        ns = _parser(modules).parse_args(own)
        mod = modules[ns.command]
        if pytest_args and not getattr(mod, "PASSES_PYTEST_ARGS", False):
            raise UsageError(f"conformance: `{ns.command}` takes no arguments after --")
        return mod.main(ns, pytest_args, argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except (TargetError, *_input_errors()) as exc:  # a bad file or tool: one line, exit 2
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
