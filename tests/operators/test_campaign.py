"""The campaign route: split → BlipCampaignOperator over real HTTP against the emulator.

Campaigns are counted from what the emulator stored, never from what the operator says.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.operators.campaign import BlipCampaignOperator, campaign_name
from airflow_provider_blip.utils import runfiles
from tests.conftest import connection_json, make_context
from tests.operators.test_notify import REPO, audience, split

FLOW = {"flow_id": "notifications-flow", "state_id": "order-update-followup"}


def campaign_op(chunks, **kwargs):
    kwargs = {
        "template_name": "order_ready",
        "body_columns": ["name"],
        **FLOW,
        **kwargs,
    }  # approved, 1 parameter
    return BlipCampaignOperator(task_id="campaign", chunks=chunks, **kwargs)


def run(op):
    ctx = make_context()
    ctx["ti"].task_id = "campaign"
    return op.execute(ctx)


def creates(emu):
    """``set /campaign/full`` commands Blip processed (a dropped answer counts)."""
    return [r for r in emu.records("commands") if r.envelope["uri"] == "/campaign/full" and r.processed]


def test_the_audience_goes_in_parts_of_campaign_size(blip_conn, tmp_path):
    rows = audience(7) + [{"phone": "12", "name": "bad"}, {"phone": "+5511900000001", "name": "dup"}]
    chunks = split(tmp_path, rows, chunk_size=3)
    out = run(campaign_op(chunks, campaign_size=3))
    assert [o["recipients"] for o in out] == [3, 3, 1]
    assert [c["recipients"] for c in blip_conn.campaigns()] == [3, 3, 1]
    assert len({o["campaign_id"] for o in out}) == 3
    assert out[0]["counts"] == {"duplicate": 1, "invalid_number": 1, "sent": 3}, "rejected rows go in part 0"
    assert "+55" not in json.dumps(out), "no number in XCom"
    first = creates(blip_conn)[0].envelope["resource"]
    assert first["campaign"]["campaignType"] == "Batch"
    assert first["audiences"][0] == {"recipient": "+5511900000000", "messageParams": {"1": "Cliente 0"}}
    assert first["message"]["messageParams"] == ["1"]
    rows_file = list(runfiles.read_jsonl(runfiles.storage_path(out[0]["rows"])))
    assert [r["row"] for r in rows_file] == [1, 2, 3, 8, 9]


def test_names_come_from_the_job_and_the_part(blip_conn, tmp_path):
    out = run(campaign_op(split(tmp_path, audience(4)), campaign_size=2))
    job = runfiles.storage_path(out[0]["rows"]).parent.parent.parent.parent.name
    assert [o["name"] for o in out] == [campaign_name("dag", job, "campaign", n) for n in (0, 1)]
    assert [c["name"] for c in blip_conn.campaigns()] == [o["name"] for o in out]


def test_a_crash_between_create_and_xcom_creates_nothing_twice(blip_conn, tmp_path, monkeypatch):
    chunks = split(tmp_path, audience(9), chunk_size=4)
    op = campaign_op(chunks, campaign_size=3)
    real = op.hook.create_campaign
    made = []

    def create_then_crash(draft):
        made.append(real(draft))
        if len(made) == 2:
            raise KeyboardInterrupt("the worker died after Blip stored part 1")
        return made[-1]

    monkeypatch.setattr(op.hook, "create_campaign", create_then_crash)
    with pytest.raises(KeyboardInterrupt):
        run(op)
    assert len(blip_conn.campaigns()) == 2
    again = run(campaign_op(chunks, campaign_size=3))  # the retry: a new operator, a new hook
    assert [o["campaign_id"] for o in again[:2]] == made
    assert len(creates(blip_conn)) == 3, "parts 0 and 1 found by name, only part 2 created"
    assert len(blip_conn.campaigns()) == 3
    assert run(campaign_op(chunks, campaign_size=3)) == again, "a re-run of the same job creates none"
    assert len(creates(blip_conn)) == 3


def test_header_and_buttons_are_refused_before_any_request(blip_conn, tmp_path):
    chunks = split(tmp_path, audience(2))
    with pytest.raises(BlipConfigError, match="body parameters only"):
        run(campaign_op(chunks, header={"type": "image", "link": "https://x.example/a.png"}))
    with pytest.raises(BlipConfigError, match="flow_id"):
        run(campaign_op(chunks, flow_id=None))
    with pytest.raises(BlipConfigError, match="campaign_size"):
        campaign_op(chunks, campaign_size=0)
    assert blip_conn.records() == []


def test_rows_whose_values_whatsapp_refuses_are_left_out(blip_conn, tmp_path):
    rows = [{"phone": "+5511900000000", "name": "ok"}, {"phone": "+5511900000001", "name": "a\nb"}]
    out = run(campaign_op(split(tmp_path, rows)))
    assert out[0]["counts"] == {"invalid_values": 1, "sent": 1}
    assert blip_conn.campaigns()[0]["recipients"] == 1


def test_one_recipient_makes_an_individual_campaign(blip_conn, tmp_path):
    run(campaign_op(split(tmp_path, audience(1))))
    resource = creates(blip_conn)[0].envelope["resource"]
    assert resource["campaign"]["campaignType"] == "Individual"
    assert resource["audience"]["recipient"] == "+5511900000000"


@pytest.mark.slow
def test_a_worker_killed_once_blip_stored_a_campaign_creates_it_once_on_retry(emulator, tmp_path):
    # Every answer waits 0.3 s after Blip processed the command: the kill lands after Blip
    # stored the first campaign and before the worker read its id.
    emulator.configure(latency=0.3, campaign_dispatch_delay=60)
    env = {**os.environ, "AIRFLOW_CONN_BLIP_DEFAULT": connection_json(emulator, commands_per_second=0)}
    chunks = split(tmp_path, audience(8), chunk_size=8)
    command = [sys.executable, "-m", "tests.operators.campaign_worker", json.dumps(chunks), "2"]
    worker = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not emulator.campaigns() and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.poll() is None, "the worker ended before it could be killed"
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert len(emulator.campaigns()) == 1, "killed with one campaign stored"
    emulator.configure(latency=0.0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_BLIP_DEFAULT", env["AIRFLOW_CONN_BLIP_DEFAULT"])
        out = run(campaign_op(chunks, campaign_size=2))
    stored = emulator.campaigns()
    assert len(stored) == 4
    assert len({c["name"] for c in stored}) == 4, "no name created twice"
    assert sorted(o["campaign_id"] for o in out) == sorted(c["id"] for c in stored)
