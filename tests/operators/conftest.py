from __future__ import annotations

from types import SimpleNamespace

import pytest


def make_context(try_number: int = 1, map_index: int = -1) -> dict:
    ti = SimpleNamespace(
        dag_id="dag", run_id="run-1", task_id="task", map_index=map_index, try_number=try_number
    )
    return {"ti": ti}


@pytest.fixture
def context():
    return make_context()
