"""The `sim` command. Each subcommand lives in its own module; bad input exits 2 with no traceback."""

from __future__ import annotations

import os
import pkgutil
import signal
import sys
import warnings
from importlib import import_module

import click

from sim import __version__, limits
from sim.errors import InputError, InvariantError

# Exit codes shared by every subcommand.
EXIT_OK = 0
EXIT_FAILED_CHECK = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


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
            rows = [(n, _short_help(_help(m), limit)) for n, m in mods]
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _modules() -> dict[str, str]:
    """Subcommand name -> module name (a module `foo_bar` is the command `foo-bar`)."""
    names = (m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return {n.replace("_", "-"): n for n in names}


def _short_help(text: str, limit: int) -> str:
    """A command's help in the listing: its first sentence, cut at a word to `limit`
    characters ("..." when cut). Our own: click deprecates its helper for this in 8.2."""
    first = " ".join(text.split("\n\n")[0].split())
    end = first.find(". ")
    first = first if end < 0 else first[: end + 1]
    if len(first) <= limit:
        return first
    cut = first[: limit - 2]  # the words that end by limit - 3, and the next character
    return cut.rsplit(" ", 1)[0] + "..."


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
@click.option(
    "--max-input-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help=f"Refuse input files larger than this (default {limits.DEFAULT_MAX_INPUT_MB:g} MB "
    f"for TOML files, {limits.DEFAULT_MAX_TRACE_MB:g} MB for trace sources; or "
    "$SIM_MAX_INPUT_MB).",
)
def cli(max_input_mb: float | None) -> None:
    """colossus-sim: GPU-cluster capacity, allocation, MFU and revenue."""
    limits.set_max_input_mb(max_input_mb)


def report_problems(err: InputError) -> None:
    """Print every problem of an InputError to stderr, one per line."""
    n = len(err.problems)
    click.secho(f"error: {n} problem{'s' if n != 1 else ''} found", fg="red", err=True)
    for problem in err.problems:
        click.echo(f"  {problem}", err=True)


def _show_warning(message, category, *_args, **_kw) -> None:
    """Our warnings as one `warning: ...` line on stderr; others as Python shows them."""
    if issubclass(category, limits.LongRunWarning):
        click.secho(f"warning: {message}", fg="yellow", err=True)
    else:
        _python_show(message, category, *_args, **_kw)


_python_show = warnings.showwarning


def _arrow_errors() -> tuple[type[Exception], ...]:
    """pyarrow's exception class if a command has loaded pyarrow (only then can one be
    raised), else nothing: `sim --help` and `sim validate` do not load pyarrow to catch it."""
    pa = sys.modules.get("pyarrow")
    return (pa.ArrowException,) if pa is not None else ()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: run the CLI, turning bad input into exit code 2 and
    Ctrl-C into 130, never a traceback."""
    warnings.showwarning = _show_warning
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # loaded: Ctrl-C as Python has it
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = cli.main(args=argv, prog_name="sim", standalone_mode=False)
    except InputError as err:
        report_problems(err)
        sys.exit(EXIT_BAD_INPUT)
    except InvariantError as err:
        n = err.total
        click.secho(
            f"error: the run's tables break {n} invariant{'s' if n != 1 else ''} (a bug in the "
            "simulator, not in the input; `sim run --no-check` writes them for inspection)",
            fg="red",
            err=True,
        )
        for line in str(err).splitlines():
            click.echo(f"  {line}", err=True)
        sys.exit(EXIT_FAILED_CHECK)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as err:
        err.show()
        sys.exit(EXIT_BAD_INPUT if err.exit_code == 2 else err.exit_code)
    except BrokenPipeError:  # `sim ... | head`: the reader left; nothing more to say
        sys.stderr.close()
        sys.exit(EXIT_OK)
    except RecursionError:
        click.secho("error: an input is nested too deeply", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except MemoryError:
        click.secho(
            "error: out of memory (an input too large for this machine?)", fg="red", err=True
        )
        sys.exit(EXIT_FAILED_CHECK)
    except (OSError, *_arrow_errors()) as err:
        # A file the command reads or writes is damaged, unreadable or in an unusable place
        # (a truncated Parquet table, a read-only folder): the file's fault, not ours.
        what = f"{err.strerror}: {err.filename}" if getattr(err, "filename", None) else str(err)
        click.secho(f"error: cannot read or write a file: {what}", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except Exception as err:  # a bug: say so in one line (SIM_DEBUG=1 shows the traceback)
        if os.environ.get("SIM_DEBUG"):
            raise
        click.secho(
            f"internal error (a bug in colossus-sim, please report it with the input): "
            f"{type(err).__name__}: {err}; SIM_DEBUG=1 shows where",
            fg="red",
            err=True,
        )
        sys.exit(EXIT_FAILED_CHECK)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
