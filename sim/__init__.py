"""colossus-sim: a discrete-event simulator of GPU-cluster capacity, allocation, MFU and revenue."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# Arrow's C++ default allocator (mimalloc) keeps the pages it frees: building, summarising and
# writing the default scenario's tables peaked at 309 MiB with it, 279 MiB with malloc. Read by
# pyarrow when it loads (after this, as sim imports it lazily); a value set by the user stands.
_os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

# Started as the `sim` command (`python -m sim` shows argv[0] "-m" while the module is found):
# Ctrl-C before the command's modules have loaded exits 130 at once, with no traceback from
# the import machinery. `sim.cli.main` puts Python's own handler back. Imported as a library,
# nothing changes.
if _sys.argv and (_sys.argv[0] == "-m" or _os.path.basename(_sys.argv[0]) == "sim"):
    import signal as _signal

    def _quiet_exit(*_args) -> None:
        _os.write(2, b"aborted\n")
        _os._exit(130)

    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _quiet_exit)
