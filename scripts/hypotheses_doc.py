"""Regenerate the figures of docs/hypotheses.md: the output of
    sim explain runs/memphis.toml --job grok4-c1 --sensitivity --observed-mfu 0.11
(seed 0, 256 Sobol base samples, tolerance 0.02) pasted between the doc's markers.

Usage: python scripts/hypotheses_doc.py [--check]   (--check: exit 1 if the doc is stale)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "hypotheses.md"
BEGIN, END = "<!-- BEGIN sim explain output -->", "<!-- END sim explain output -->"
COMMAND = "sim explain runs/memphis.toml --job grok4-c1 --sensitivity --observed-mfu 0.11"


def output() -> str:
    """The command's text output, run from the repository root (paths print relative to it)."""
    from sim.explain import explain, format_explanation
    from sim.hypotheses import analyse, format_analysis
    from sim.runner import prepare

    here = Path.cwd()
    os.chdir(ROOT)
    try:
        prep = prepare("runs/memphis.toml")
        e = explain(prep, "grok4-c1")
        a = analyse(prep, "grok4-c1", 256, 0, 0.11, 0.02, 64 * 256)
        return format_explanation(e) + "\n\n" + format_analysis(a)
    finally:
        os.chdir(here)


def render(doc: str, text: str) -> str:
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n```text\n$ {COMMAND}\n{text}\n```\n{END}{tail}"


def main(argv: list[str]) -> int:
    doc = DOC.read_text()
    new = render(doc, output())
    if "--check" in argv:
        if new != doc:
            print(f"{DOC} is stale; run python scripts/hypotheses_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
