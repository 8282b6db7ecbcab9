import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tests run with one torch thread (docs/cpu-scale.md: never oversubscribe a 2-core machine)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)


LONGEST_FIRST = ("test_pipeline.py",)  # the smoke grid: most of the suite's wall time


def pytest_collection_modifyitems(items):
    """The longest file first: under pytest-xdist (two workers, one file each at a time) it starts at
    once on one worker while the other runs every other file, instead of starting last. pyproject's
    ``--no-loadscope-reorder`` keeps this order: by default pytest-xdist sends the files with the most
    tests first, and the smoke grid's five tests started eight minutes into the suite."""
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)  # stable: the rest keep their order
