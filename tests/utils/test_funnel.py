"""The delivery funnel: stages of one row, the counts, the masked table, read from real run files."""

from __future__ import annotations

import json
import os
import stat

import pytest

from airflow_provider_blip.utils.funnel import Funnel, Stage, mask_reason, stage_of

PHONE = "+5511987654321"


@pytest.mark.parametrize(
    ("row", "stage"),
    [
        pytest.param({"status": "context_set", "message_id": "m"}, Stage.PENDING, id="sent-no-status-yet"),
        pytest.param({"status": "context_set", "delivery": "consumed"}, Stage.READ, id="first-read-wins"),
        pytest.param({"status": "dispatched"}, Stage.ACCEPTED, id="dispatched-is-accepted"),
        pytest.param({"status": "received"}, Stage.RECEIVED, id="received"),
        pytest.param({"status": "failed"}, Stage.FAILED, id="delivery-failed"),
        pytest.param({"status": "delivery_unknown"}, Stage.NO_REPORT, id="no-report"),
        pytest.param({"status": "unknown", "message_id": "m"}, Stage.PENDING, id="send-outcome-unknown"),
        pytest.param({"status": "duplicate"}, Stage.NOT_SENT, id="duplicate"),
        pytest.param({"status": "send_failed"}, Stage.NOT_SENT, id="send-refused"),
        pytest.param({"status": "not_sent"}, Stage.NOT_SENT, id="breaker"),
        pytest.param({"intent": "send", "message_id": "m"}, Stage.PENDING, id="in-flight"),
    ],
)
def test_stage_of_a_row(row, stage):
    assert stage_of(row) is stage


def test_the_funnel_is_cumulative_and_adds_up_to_the_recipients():
    stages = [Stage.READ] * 5 + [Stage.RECEIVED] * 2 + [Stage.ACCEPTED, Stage.PENDING, Stage.FAILED]
    funnel = Funnel.of([*stages, Stage.NO_REPORT, Stage.NOT_SENT, Stage.NOT_SENT, Stage.QUEUED])
    assert funnel.as_dict() == {
        "sent": 11,
        "accepted": 8,
        "received": 7,
        "read": 5,
        "failed": 1,
        "no_report": 1,
        "not_sent": 2,
        "queued": 1,
        "total": 14,
    }
    assert (funnel + funnel).as_dict()["read"] == 10


def test_a_reason_quoting_a_number_is_masked_however_it_is_written():
    assert "98888-7777" not in mask_reason("number (31) 98888-7777 is\nnot valid")
    assert "5511987654321" not in mask_reason("to 5511987654321@wa.gw.msging.net")
    assert mask_reason("row 7: empty value") == "row 7: empty value"


# -- read from files laid out as the job writes them ------------------------------------


def chunk_rows(index):
    base = index * 10
    return [
        {"row": base + 1, "phone": PHONE, "values": {}},
        {"row": base + 2, "phone": "+5511912345678", "values": {}},
        {"row": base + 3, "phone": "+5521999990001", "values": {}},
        {"row": base + 4, "phone": "12345", "status": "invalid_number", "reason": "too short"},
    ]


def sent(row, phone, **extra):
    return {"row": row, "phone": phone, "status": "context_set", "message_id": f"m{row}", **extra}


@pytest.fixture
def job(tmp_path):
    """A job of three chunks: 0 delivered, 1 waiting in the triggerer, 2 not started yet."""
    from airflow_provider_blip.utils.jobs import RunLayout
    from airflow_provider_blip.utils.runfiles import write_json, write_jsonl

    layout = RunLayout.for_job(tmp_path, "dag", "date-x")
    manifest = []
    for index in range(3):
        write_jsonl(layout.chunk(index), chunk_rows(index))
        manifest.append({"chunk": str(layout.chunk(index)), "index": index, "rows": 4})
    write_json(layout.manifest, manifest)
    invalid = {"row": 0, "phone": "12345", "status": "invalid_number", "reason": "too short"}

    done = layout.results("notify", 0)
    write_jsonl(done / "001.start", [{}])
    write_jsonl(
        done / "001.jsonl",
        [
            {**invalid, "row": 4},
            {"row": 1, "intent": "send", "account": "a", "message_id": "m1"},
            sent(1, PHONE, delivery="dispatched"),
            sent(2, "+5511912345678"),
            sent(3, "+5521999990001"),
        ],
    )
    write_jsonl(
        done / "delivery-001.jsonl",
        [
            {**invalid, "row": 4},
            {**sent(1, PHONE), "status": "consumed"},
            {**sent(2, "+5511912345678"), "status": "failed", "reason": "Destination not found", "code": 42},
            {**sent(3, "+5521999990001"), "status": "received"},
        ],
    )
    os.utime(str(done.path) + "/delivery-001.jsonl", (2_000_000_000, 2_000_000_000))
    os.utime(str(done.path) + "/001.jsonl", (1_999_999_000, 1_999_999_000))

    waiting = layout.results("notify", 1)
    write_jsonl(waiting / "002.start", [{}])
    write_jsonl(
        waiting / "002.jsonl",
        [{**invalid, "row": 14}, sent(11, PHONE), sent(12, "+5511912345678"), sent(13, "+5521999990001")],
    )
    handoff = [
        {"row": 11, "message_id": "m11", "status": "context_set", "delivery": "received"},
        {"row": 12, "message_id": "m12", "status": "context_set"},
        {"row": 13, "message_id": "m13", "status": "context_set"},
    ]
    write_jsonl(waiting / "delivery-002.deferred.jsonl", handoff)
    os.utime(str(waiting.path) + "/002.jsonl", (1_999_999_500, 1_999_999_500))
    os.utime(str(waiting.path) + "/delivery-002.deferred.jsonl", (1_999_999_600, 1_999_999_600))
    return layout


def test_read_job_counts_each_chunk_as_its_files_stand(job):
    from airflow_provider_blip.utils.runview import read_job

    view = read_job(job, "dag")
    phases = {c.index: (c.phase, c.funnel.as_dict()) for c in view.chunks}
    assert phases[0][0] == "done"
    assert phases[0][1] == {
        "sent": 3,
        "accepted": 2,
        "received": 2,
        "read": 1,
        "failed": 1,
        "no_report": 0,
        "not_sent": 1,
        "queued": 0,
        "total": 4,
    }
    # Waiting: what the wait had read when it deferred (one received), the rest still pending.
    assert phases[1][0] == "waiting"
    assert (phases[1][1]["sent"], phases[1][1]["received"], phases[1][1]["read"]) == (3, 1, 0)
    assert phases[2] == ("queued", Funnel(queued=4).as_dict())
    assert view.funnel.as_dict() == {
        "sent": 6,
        "accepted": 3,
        "received": 3,
        "read": 1,
        "failed": 1,
        "no_report": 0,
        "not_sent": 2,
        "queued": 4,
        "total": 12,
    }


def test_the_failed_table_lists_failures_first_masked_and_the_reasons_are_counted(job):
    from airflow_provider_blip.utils.runview import read_job

    view = read_job(job, "dag")
    assert [(f.chunk, f.row, f.status) for f in view.failed] == [
        (0, 2, "failed"),
        (0, 4, "invalid_number"),
        (1, 14, "invalid_number"),
    ]
    assert view.failed[0].phone == "+5511*****5678"
    assert view.failed_total == 3
    # Failures first, as in the table, however many rows were invalid.
    assert view.reasons == (("failed", "Destination not found", 1), ("invalid_number", "too short", 2))
    served = json.dumps(view.as_dict())
    for number in (PHONE, "+5511912345678", "5511912345678", "12345"):
        assert number not in served


def test_the_history_counts_every_chunk_as_it_stood_at_each_file_time(job):
    from airflow_provider_blip.utils.runview import read_job

    history = read_job(job, "dag").history
    assert [s.label for s in history] == ["sent", "sent", "deferred", "delivered"]
    assert [s.at for s in history] == sorted(s.at for s in history)
    first, last = history[0].funnel, history[-1].funnel
    # After chunk 0's sends: its first read saw one message dispatched; chunks 1 and 2 queued.
    assert (first.sent, first.accepted, first.queued) == (3, 1, 8)
    assert (last.read, last.failed, last.queued) == (1, 1, 4)


def test_a_job_without_results_yet_is_all_queued(tmp_path):
    from airflow_provider_blip.utils.jobs import RunLayout
    from airflow_provider_blip.utils.runfiles import write_json
    from airflow_provider_blip.utils.runview import list_dags, list_jobs, read_job

    layout = RunLayout.for_job(tmp_path, "dag", "run-1")
    write_json(layout.manifest, [{"chunk": "x", "index": 0, "rows": 7}])
    view = read_job(layout, "dag")
    assert view.funnel.as_dict()["queued"] == view.funnel.total == 7
    assert view.history == ()
    assert list_dags(tmp_path) == ["dag"]
    assert list_jobs(tmp_path, "dag") == ["run-1"]


def test_the_page_shows_the_counts_escaped_and_masked(job):
    from airflow_provider_blip.utils.funnel_html import render_job
    from airflow_provider_blip.utils.runview import read_job

    page = render_job(read_job(job, "dag<script>"), run_link="/dags/x/runs/y", refresh_seconds=10)
    assert '<b id="count-sent">6</b>' in page
    assert '<b id="count-read">1</b>' in page
    assert "<script>" not in page
    assert "dag&lt;script&gt;" in page
    assert 'http-equiv="refresh" content="10"' in page
    assert "<script src" not in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    for number in (PHONE, "+5511912345678"):
        assert number not in page


def test_the_report_writes_the_page_next_to_the_run_files_owner_only(job):
    from airflow_provider_blip.utils.funnel_file import FILE_NAME, write_funnel_html

    delivery = job.results("notify", 0) / "delivery-001.jsonl"
    uri = write_funnel_html("dag", [None, {"delivery": str(delivery), "counts": {}}])
    target = job.directory / FILE_NAME
    assert uri == str(target)
    assert stat.S_IMODE(os.stat(target.path).st_mode) == 0o600
    page = target.read_text(encoding="utf-8")
    assert '<b id="count-total">12</b>' in page
    assert PHONE not in page


def test_no_delivery_file_no_page():
    from airflow_provider_blip.utils.funnel_file import write_funnel_html

    assert write_funnel_html("dag", [None]) is None
