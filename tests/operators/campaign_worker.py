"""Run one BlipCampaignOperator try in its own process, as an Airflow worker would.

The crash test starts this with ``python -m tests.operators.campaign_worker`` and kills it
with SIGKILL once Blip has stored a campaign, before the worker has its answer; the
connection comes from ``AIRFLOW_CONN_BLIP_DEFAULT``.

Arguments: the JSON of the split's output and the campaign size.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace


def main(chunks: str, campaign_size: int) -> int:
    from airflow_provider_blip.operators.campaign import BlipCampaignOperator

    ti = SimpleNamespace(dag_id="dag", run_id="run-1", task_id="campaign", map_index=-1, try_number=1)
    operator = BlipCampaignOperator(
        task_id="campaign",
        chunks=json.loads(chunks),
        template_name="order_ready",  # approved in the seed registry, one body parameter
        body_columns=["name"],
        flow_id="flow-1",
        state_id="block-1",
        campaign_size=campaign_size,
    )
    operator.execute({"ti": ti})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
