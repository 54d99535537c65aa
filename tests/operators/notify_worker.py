"""Run one BlipNotifyOperator try in its own process, as an Airflow worker would.

The exactly-once tests start this with ``python -m tests.operators.notify_worker`` and kill
it with SIGKILL at random moments; the connection comes from ``AIRFLOW_CONN_BLIP_DEFAULT``.

Arguments: chunk URI, run id, try number, and optionally the map index (default 0). Exit
code 0 when the try succeeded, 3 when it raised (the error goes to stderr), as a task runner
would report it.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

# Not the seeded order_update's shape (two body parameters): these tests are about the
# pipeline, so the registry check (tests/operators/test_registry_check.py) is off here.
TEMPLATE = {
    "template_name": "order_update",
    "language": "pt_BR",
    "body_columns": ["name"],
    "check_template": False,
}
FLOW = {"flow_id": "flow-1", "state_id": "block-1"}


def main(chunk: str, run_id: str, try_number: int, map_index: int = 0) -> int:
    from airflow_provider_blip.exceptions import BlipError
    from airflow_provider_blip.operators.notify import BlipNotifyOperator

    ti = SimpleNamespace(
        dag_id="dag", run_id=run_id, task_id="notify", map_index=map_index, try_number=try_number
    )
    operator = BlipNotifyOperator(task_id="notify", chunk=chunk, max_failed_ratio=1.0, **TEMPLATE, **FLOW)
    try:
        operator.execute({"ti": ti})
    except BlipError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], *(int(arg) for arg in sys.argv[3:5])))
