"""Figures and sections of `sim report`: the numbers behind a run's figures (`rundata`), plotly
figures of a run or of a sweep's summary (`run`, `sweep`), the page sections that hold them
with their tables (`sections`), shared colours, labels and formats (`style`), and a matplotlib
rendering of the same figures for `sim report --static` (`static`)."""

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


@dataclass
class Section:
    """One section of the page: one heading, optional text or tables (HTML the builder has
    escaped), then its figures."""

    heading: str
    figures: list[Figure] = field(default_factory=list)
    html: str = ""
