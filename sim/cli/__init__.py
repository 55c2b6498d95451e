"""The `sim` command. Each subcommand lives in its own module; bad input exits 2 with no traceback."""

from __future__ import annotations

import os
import pkgutil
import signal
import sys
import warnings
from importlib import import_module

import click
import pyarrow as pa

from sim import __version__, limits
from sim.errors import InputError
from sim.invariants import InvariantError

# Exit codes shared by every subcommand.
EXIT_OK = 0
EXIT_FAILED_CHECK = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


# Every module of this package defines `command` (a click command or group): adding a
# subcommand is adding a module.
# Ctrl-C while they load (pandas, pyarrow, ... take a second) exits 130 without a traceback.
try:
    for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        cli.add_command(import_module(f"sim.cli.{_mod}").command)
except KeyboardInterrupt:
    sys.stderr.write("aborted\n")
    sys.exit(130)


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
    except (OSError, pa.ArrowException) as err:
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
