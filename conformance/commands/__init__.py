"""One module per `conformance` subcommand (see conformance.cli.COMMANDS)."""
