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


class LazyGroup(click.Group):
    """The `sim` group: every module of this package defines `command` (a click command or
    group), imported only when that subcommand runs, so `sim --help` and `sim validate` load
    none of the others' dependencies. The listing's one-line help is read from the module's
    source (the docstring of its `command` function) without importing it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_modules())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        mod = _modules().get(name)
        return None if mod is None else import_module(f"sim.cli.{mod}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        mods = sorted(_modules().items())
        if mods:  # as click shortens a command's help, from the source instead of the object
            limit = formatter.width - 6 - max(len(name) for name, _ in mods)
            rows = [(n, click.utils.make_default_short_help(_help(m), limit)) for n, m in mods]
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _modules() -> dict[str, str]:
    """Subcommand name -> module name (a module `foo_bar` is the command `foo-bar`)."""
    names = (m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return {n.replace("_", "-"): n for n in names}


def _help(mod: str) -> str:
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).parent / f"{mod}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "command":
            return ast.get_docstring(node) or ""
    return ""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sim")
def cli() -> None:
    """colossus-sim: GPU-cluster capacity, allocation, MFU and revenue."""


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
