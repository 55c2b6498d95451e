"""Figures of `sim report`: plotly figures built from a run's tables or a sweep's summary
(`run`, `sweep`), their shared colours and labels (`style`), and a matplotlib rendering of the
same figures for `sim report --static` (`static`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    """One figure of the page: an id (also its PNG's name), a title, a caption saying what it
    shows and how it is computed, and the plotly figure."""

    slug: str
    title: str
    description: str
    fig: Any  # plotly.graph_objects.Figure
    png: bytes = field(default=b"", repr=False)  # filled by `sim report --static`
