from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def small_topology():
    from sim.topology import load_topology

    return load_topology([DATA / "small.toml"])
