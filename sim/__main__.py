"""`python -m sim`: Ctrl-C while the command's modules are still loading exits 130 quietly."""

import sys

try:
    from sim.cli import main
except KeyboardInterrupt:
    sys.stderr.write("aborted\n")
    sys.exit(130)

main()
