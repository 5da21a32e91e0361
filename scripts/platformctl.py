"""`platformctl`: the one entry point for every operational command of the platform."""

from __future__ import annotations

import logging
import os
import sys

import click

from app.contracts import exitcodes
from scripts.runtime.cliexit import UsageExitGroup

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

OWN_LOGGERS = ("app", "stacks", "modules", "scripts", "__main__")


@click.group(cls=UsageExitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    """Provision and operate the platform: local target, state, deploys, migrations, Vault."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if verbose:
        # Debug output of this project only. Libraries stay at INFO: botocore and urllib3 log
        # whole request/response bodies at DEBUG (a GetSecretValue answer is a password).
        for name in OWN_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)


@cli.command("exit-codes")
@click.option("--json", "as_json", is_flag=True, help="The table as JSON (code, name, meaning, commands).")
@click.option("--markdown", is_flag=True, help="The table as docs/exit-codes.md (which is generated from it).")
def exit_codes(as_json: bool, markdown: bool) -> None:
    """Print the one exit-code table: each code has one meaning across every command."""
    click.echo(exitcodes.render_json() if as_json else exitcodes.render_markdown() if markdown
               else exitcodes.render_text(), nl=False)


def _register() -> None:
    # Command groups live next to the code they drive; each module exposes one click group.
    from scripts.commands import register_all

    register_all(cli)


def main() -> None:
    _register()
    cli()


if __name__ == "__main__":
    main()
