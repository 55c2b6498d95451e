"""The `sim` command. Each subcommand lives in its own module; bad input exits 2 with no traceback."""

from __future__ import annotations

import pkgutil
import sys
from importlib import import_module

import click

from sim import __version__
from sim.errors import InputError

# Exit codes shared by every subcommand.
EXIT_OK = 0
EXIT_FAILED_CHECK = 1
EXIT_BAD_INPUT = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sim")
def cli() -> None:
    """colossus-sim: GPU-cluster capacity, allocation, MFU and revenue."""


# Every module of this package defines `command` (a click command or group): adding a
# subcommand is adding a module.
for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    cli.add_command(import_module(f"sim.cli.{_mod}").command)


def report_problems(err: InputError) -> None:
    """Print every problem of an InputError to stderr, one per line."""
    n = len(err.problems)
    click.secho(f"error: {n} problem{'s' if n != 1 else ''} found", fg="red", err=True)
    for problem in err.problems:
        click.echo(f"  {problem}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: run the CLI, turning bad input into exit code 2."""
    try:
        code = cli.main(args=argv, prog_name="sim", standalone_mode=False)
    except InputError as err:
        report_problems(err)
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(EXIT_BAD_INPUT if err.exit_code == 2 else err.exit_code)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
