"""The chunked job: split, notify per chunk, resume after a crash, and exactly-once under faults.

Counts come from what the emulator stored (``processed`` records), never from what the
operator says about itself.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pendulum
import pytest

from airflow_provider_blip.exceptions import BlipBatchError, BlipConfigError
from airflow_provider_blip.operators.notify import BlipNotifyOperator, BlipSplitAudienceOperator
from airflow_provider_blip.utils import journal, runfiles
from airflow_provider_blip.utils.ids import job_message_id
from tests.conftest import connection_json, make_context
from tests.operators.notify_worker import FLOW, TEMPLATE

REPO = Path(__file__).resolve().parents[2]


def audience(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"phone": f"+55119{i:08d}", "name": f"Cliente {i}"} for i in range(start, start + n)]


def split(tmp_path, rows, run_id="run-1", logical_date=None, **kwargs):
    op = BlipSplitAudienceOperator(task_id="split", audience=rows, runs_path=str(tmp_path), **kwargs)
    ctx = make_context()
    ctx["ti"].run_id = run_id
    if logical_date is not None:
        ctx["logical_date"] = logical_date
    return op.execute(ctx)


def notify(chunk, try_number=1, run_id="run-1", **kwargs):
    kwargs = {"max_failed_ratio": 1.0, "first_read_after": None, **TEMPLATE, **FLOW, **kwargs}
    op = BlipNotifyOperator(task_id="notify", chunk=chunk, **kwargs)
    ctx = make_context(
        try_number=try_number, map_index=chunk.get("index", 0) if isinstance(chunk, dict) else 0
    )
    ctx["ti"].run_id = run_id
    ctx["ti"].task_id = "notify"
    return op.execute(ctx)


def stored_messages(emu):
    """Messages Blip stored, per recipient account (a dropped-after-processing one counts)."""
    per_account = collections.Counter(r.envelope["to"] for r in emu.records("messages") if r.processed)
    return per_account


def since(emu, mark, channel=None):
    """Records that arrived after ``mark`` (a count of all records taken before)."""
    return [r for r in emu.records()[mark:] if channel is None or r.channel == channel]


def results(output):
    return list(journal.read_results(runfiles.storage_path(output["results"])))


class TestSplit:
    def test_chunks_cover_every_row_once_and_report_bad_ones(self, tmp_path):
        rows = audience(5) + [{"phone": "12", "name": "x"}, {"phone": "+5511900000001", "name": "dup"}]
        chunks = split(tmp_path, rows, chunk_size=3)
        assert [c["rows"] for c in chunks] == [3, 3, 1]
        lines = [line for c in chunks for line in runfiles.read_jsonl(runfiles.storage_path(c["chunk"]))]
        assert [line["row"] for line in lines] == list(range(1, 8))
        assert lines[5]["status"] == "invalid_number"
        assert lines[6]["status"] == "duplicate"
        assert lines[6]["reason"] == "same number as row 2"
        assert lines[0] == {"row": 1, "phone": "+5511900000000", "values": {"name": "Cliente 0"}}

    def test_chunk_size_grows_to_stay_within_max_chunks(self, tmp_path):
        chunks = split(tmp_path, audience(50), chunk_size=2, max_chunks=4)
        assert len(chunks) == 4
        assert sum(c["rows"] for c in chunks) == 50
        assert len(json.dumps(chunks)) < 1024

    def test_a_retried_split_reuses_its_chunks(self, tmp_path):
        first = split(tmp_path, audience(10), chunk_size=4)
        again = split(tmp_path, audience(3, start=100), chunk_size=1)  # the audience changed
        assert again == first, "same chunks, so same map indexes and message ids"

    def test_runs_without_a_logical_date_are_separate_jobs(self, tmp_path):
        one = split(tmp_path, audience(2), run_id="manual__2026-11-21T09:00:00+00:00")
        two = split(tmp_path, audience(2), run_id="scheduled__2026-11-21T09:00:00+00:00")
        assert one[0]["chunk"] != two[0]["chunk"]
        assert ":" not in one[0]["chunk"].split("://", 1)[1]

    def test_every_run_of_the_same_logical_date_is_the_same_job(self, tmp_path):
        day = pendulum.datetime(2026, 12, 1, 9, tz="America/Sao_Paulo")
        first = split(tmp_path, audience(4), run_id="scheduled__a", logical_date=day)
        again = split(tmp_path, audience(9), run_id="manual__b", logical_date=day.in_timezone("UTC"))
        assert again == first, "a new run id for the same logical date resumes the same job"
        other = split(tmp_path, audience(4), run_id="scheduled__c", logical_date=day.add(days=1))
        assert other[0]["chunk"] != first[0]["chunk"]
        keyed = split(tmp_path, audience(4), run_id="x", logical_date=day, campaign_key="black friday")
        assert "/jobs/key-black_friday/" in keyed[0]["chunk"]

    def test_too_many_unusable_rows_fail_before_anything_is_spent(self, blip_conn, tmp_path):
        rows = audience(1) + [{"phone": "12", "name": "x"}] * 3 + [{"phone": "+5511988887777", "name": ""}]
        with pytest.raises(BlipConfigError, match=r"4 of 5 rows are unusable .* nothing was sent") as caught:
            split(tmp_path, rows, required_columns=["name"])
        assert "+55" not in str(caught.value)
        assert "98888" not in str(caught.value)
        assert blip_conn.records() == []
        assert not list(tmp_path.rglob("manifest.json")), "no chunk list: a retry parses again"
        chunks = split(tmp_path, rows, required_columns=["name"], max_invalid_ratio=1.0)
        lines = list(runfiles.read_jsonl(runfiles.storage_path(chunks[0]["chunk"])))
        assert [line.get("status") for line in lines] == [None] + ["invalid_number"] * 3 + ["invalid_values"]

    def test_chunk_size_must_be_positive(self):
        with pytest.raises(ValueError, match="chunk_size"):
            BlipSplitAudienceOperator(task_id="s", audience=[], chunk_size=0)


class TestNotify:
    def test_each_recipient_verified_sent_and_moved(self, blip_conn, tmp_path):
        rows = audience(20) + [{"phone": "+5531988887777", "name": "Legacy"}, {"phone": "+5511911112222"}]
        (chunk,) = split(tmp_path, rows)
        output = notify(chunk)
        assert output["counts"] == {"context_set": 21, "invalid_values": 1}
        assert output["messages"] == 21
        assert "+55" not in json.dumps(output), "no phone number in XCom"
        sent = stored_messages(blip_conn)
        assert len(sent) == 21
        assert set(sent.values()) == {1}
        assert "553188887777@wa.gw.msging.net" in sent, "the legacy account, not the raw number"
        rows_by_number = {r["row"]: r for r in results(output)}
        assert rows_by_number[21]["account"] == "553188887777@wa.gw.msging.net"
        assert "values" not in rows_by_number[1], "template values stay in the chunk file"
        assert rows_by_number[1]["message_id"] == job_message_id(
            dag_id="dag",
            job="run-run-1",  # no logical date in this context: the run id stands for the job
            task_id="notify",
            recipient="5511900000000@wa.gw.msging.net",
            template="order_update",
        )
        lookups = [r for r in blip_conn.records("commands") if "accounts" in r.envelope["uri"]]
        assert len(lookups) == 21, "the row missing a template value was never looked up"

    def test_router_master_state_goes_before_the_flow_state(self, blip_conn, tmp_path):
        (chunk,) = split(tmp_path, audience(3))
        notify(chunk, master_state="sub@msging.net")
        sets = [r.envelope["uri"] for r in blip_conn.records("commands") if r.envelope["method"] == "set"]
        for account in {uri.split("/")[2] for uri in sets}:
            mine = [uri.rsplit("/", 1)[1] for uri in sets if uri.split("/")[2] == account]
            assert mine == ["master-state", "stateid%40flow-1"]

    def test_a_second_try_after_success_sends_nothing(self, blip_conn, tmp_path):
        (chunk,) = split(tmp_path, audience(30))
        notify(chunk)
        before = len(blip_conn.records())
        output = notify(chunk, try_number=2)
        assert output["counts"] == {"context_set": 30}
        assert len(blip_conn.records()) == before, "finished recipients cost no request"

    def test_resume_checks_only_what_may_have_left(self, blip_conn, tmp_path):
        (chunk,) = split(tmp_path, audience(10))
        output = notify(chunk)
        attempt = runfiles.storage_path(output["results"])
        lines = list(runfiles.read_jsonl(attempt))
        # Rewrite the journal as if its attempt had died: rows 1-4 done, rows 5-6 caught mid-send,
        # rows 7-10 never started (their messages are at Blip only because it really ran).
        keep = [line for line in lines if line["row"] <= 4 or ("intent" in line and line["row"] <= 6)]
        runfiles.write_jsonl(attempt, keep)
        mark = len(blip_conn.records())
        output = notify(chunk, try_number=2)
        assert output["counts"] == {"context_set": 10}
        commands = [r.envelope["uri"] for r in since(blip_conn, mark, "commands")]
        checks = [uri for uri in commands if uri.startswith("/notifications")]
        assert len(checks) == 2, "only the two rows caught mid-send are checked"
        resent = sorted(r.envelope["to"] for r in since(blip_conn, mark, "messages"))
        assert resent == [f"55119{i:08d}@wa.gw.msging.net" for i in range(6, 10)], "only rows 7-10 go out"
        assert sum("accounts" in uri for uri in commands) == 4, "the intent line kept rows 5-6's account"

    def test_a_missing_earlier_journal_means_every_send_is_checked(self, blip_conn, tmp_path):
        (chunk,) = split(tmp_path, audience(6))
        output = notify(chunk)
        runfiles.storage_path(output["results"]).unlink()  # as if it ran on another machine
        mark = len(blip_conn.records())
        notify(chunk, try_number=2)
        checks = [
            r for r in since(blip_conn, mark, "commands") if r.envelope["uri"].startswith("/notifications")
        ]
        assert len(checks) == 6
        assert since(blip_conn, mark, "messages") == [], "Blip had every message: none sent again"

    def test_unknown_sends_fail_the_task_with_counts_and_the_retry_resolves_them(
        self, emulator, monkeypatch, tmp_path
    ):
        monkeypatch.setenv(
            "AIRFLOW_CONN_BLIP_DEFAULT",
            connection_json(emulator, max_retries=0, messages_per_second=0, commands_per_second=0),
        )
        (chunk,) = split(tmp_path, audience(40))
        emulator.configure(drop_after_rate=0.3, fault_channels=frozenset({"messages"}))
        with pytest.raises(BlipBatchError, match=r"sent, 0 failed, \d+ unknown") as caught:
            notify(chunk)
        assert "Retry the task" in str(caught.value)
        assert ".jsonl" in str(caught.value), "the error names the results file"
        emulator.configure(drop_after_rate=0.0)
        output = notify(chunk, try_number=2)
        assert output["counts"] == {"context_set": 40}
        sent = stored_messages(emulator)
        assert len(sent) == 40
        assert set(sent.values()) == {1}, "the dropped-after ones were not resent"

    def test_a_bad_chunk_reference_is_named(self, blip_conn):
        with pytest.raises(BlipConfigError, match="chunk must be a reference"):
            notify({"nope": 1})


def run_worker(chunk_uri, run_id, try_number, env, map_index=0):
    command = [sys.executable, "-m", "tests.operators.notify_worker", chunk_uri, run_id, str(try_number)]
    command.append(str(map_index))
    return subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_at_random_points_then_retry_sends_each_message_exactly_once(emulator, tmp_path):
    """2,000 recipients; the worker is killed 20 times at random points, then a retry finishes."""
    rng = random.Random(20261121)
    emulator.configure(latency=0.002)  # some requests are always in flight when the kill lands
    env = {
        **os.environ,
        "AIRFLOW_CONN_BLIP_DEFAULT": connection_json(
            emulator, messages_per_second=0, commands_per_second=0, notifications_per_second=0, concurrency=32
        ),
    }
    (chunk,) = split(tmp_path, audience(2000), chunk_size=2000)
    attempts = (run_worker(chunk["chunk"], "run-1", n, env) for n in range(1, 40))
    assert kill_until_done(emulator, attempts, kills=20, rng=rng, most=120) == 20
    sent = stored_messages(emulator)
    duplicates = {to: n for to, n in sent.items() if n > 1}
    assert duplicates == {}
    assert len(sent) == 2000, "missing recipients"


def kill_until_done(emulator, attempts, *, kills, rng, least=1, most=120):
    """SIGKILL the first ``kills`` attempts after a random number of new messages; let the next finish.

    :return: how many attempts were killed (the last attempt must have succeeded).
    """
    killed = 0
    for worker in attempts:
        if killed < kills:
            goal = len(stored_messages(emulator)) + rng.randint(least, most)
            while worker.poll() is None and len(stored_messages(emulator)) < goal:
                time.sleep(0.002)
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                killed += 1
        worker.wait(timeout=300)
        if worker.returncode == 0:
            return killed
    raise AssertionError(worker.stderr.read() if worker.stderr else "no attempt finished")


@pytest.mark.slow
@pytest.mark.parametrize("rerun", ["airflow_retry", "tasks_test_same_try", "new_run_same_logical_date"])
def test_every_way_of_running_a_killed_job_again_sends_each_message_once(emulator, tmp_path, rerun):
    """Killed 4 times mid-send, then run again the way a user would, counted from what Blip stored.

    ``airflow_retry``: the try number goes up. ``tasks_test_same_try``: ``airflow tasks test``
    keeps try 1 every time. ``new_run_same_logical_date``: ``airflow dags test`` with the same
    date makes a new run id and splits again.
    """
    rng = random.Random(hash(rerun) & 0xFFFF)
    emulator.configure(latency=0.002)
    env = {
        **os.environ,
        "AIRFLOW_CONN_BLIP_DEFAULT": connection_json(
            emulator, messages_per_second=0, commands_per_second=0, notifications_per_second=0, concurrency=32
        ),
    }
    day = pendulum.datetime(2026, 12, 1, 12, tz="UTC")
    rows = audience(400)
    (first,) = split(tmp_path, rows, run_id="scheduled__0", logical_date=day, chunk_size=400)

    def attempts():
        for attempt in range(1, 30):
            chunk, try_number, run_id = first, 1, "scheduled__0"
            if rerun == "airflow_retry":
                try_number = attempt
            elif rerun == "new_run_same_logical_date":
                run_id = f"manual__{attempt}"
                (chunk,) = split(tmp_path, rows, run_id=run_id, logical_date=day, chunk_size=400)
                assert chunk == first, "the same job: same chunk, same map index, same ids"
            yield run_worker(chunk["chunk"], run_id, try_number, env)

    assert kill_until_done(emulator, attempts(), kills=4, rng=rng, least=20, most=80) == 4
    sent = stored_messages(emulator)
    assert {to: n for to, n in sent.items() if n > 1} == {}, "messaged twice"
    assert len(sent) == 400, "missing recipients"


@pytest.mark.slow
def test_exactly_once_under_429_storms_5xx_and_dropped_connections(emulator, monkeypatch, tmp_path):
    """10% 5xx, 5% drops before and 5% after processing, and a server limit below the client's pace."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_BLIP_DEFAULT",
        connection_json(
            emulator,
            messages_per_second=0,
            commands_per_second=0,
            notifications_per_second=0,
            concurrency=64,
            max_retries=3,
        ),
    )
    emulator.configure(
        error_rate=0.10,
        drop_rate=0.05,
        drop_after_rate=0.05,
        rate_limits={"messages": 100, "commands": 200, "notifications": 100},
    )
    (chunk,) = split(tmp_path, audience(2000), chunk_size=2000)
    output, failed_tries = None, []
    for try_number in range(1, 8):
        try:
            output = notify(chunk, try_number=try_number)
            break
        except BlipBatchError as exc:  # unknown sends left: the next try resolves them
            failed_tries.append(str(exc))
    assert output is not None, failed_tries
    assert all("unknown" in text for text in failed_tries)
    stats = emulator.stats()
    assert stats["refused"] > 0, "the server limit must have refused requests (429)"
    assert stats["faults"]["error"] > 0
    assert stats["faults"]["drop_after"] > 0
    assert output["counts"] == {"context_set": 2000}
    sent = stored_messages(emulator)
    assert {to: n for to, n in sent.items() if n > 1} == {}, "duplicates"
    assert len(sent) == 2000, "missing recipients"


@pytest.mark.slow
@pytest.mark.parametrize("parallel_tasks", [2, 1])
def test_parallel_chunks_share_one_budget(emulator, tmp_path, parallel_tasks):
    """Two chunk tasks at once in two processes: with parallel_tasks=2 Blip never refuses one."""
    import gc

    # The emulator runs in this process: a full garbage collection over the test session's
    # objects would stall its arrival clock and bunch requests the workers sent evenly.
    gc.freeze()
    emulator.configure(rate_limits={"messages": 50, "commands": 200, "notifications": 100})
    conn = connection_json(emulator, parallel_tasks=parallel_tasks)  # the paid plan's rates
    env = {**os.environ, "AIRFLOW_CONN_BLIP_DEFAULT": conn}
    chunks = split(tmp_path, audience(240), chunk_size=120)
    workers = [run_worker(c["chunk"], "run-1", 1, env, map_index=c["index"]) for c in chunks]
    for worker in workers:
        worker.wait(timeout=300)
    assert [w.returncode for w in workers] == [0, 0]
    assert len(stored_messages(emulator)) == 240
    refused = emulator.stats()["refused"]
    if parallel_tasks == 2:
        assert refused == 0, "each task paced itself at half the plan"
    else:
        assert refused > 0, "two tasks at the full plan each go over it (the control case)"


def test_the_sensor_follows_a_chunk_from_its_results_file(blip_conn, tmp_path):
    from airflow_provider_blip.sensors.blip import BlipMessageStatusSensor

    (chunk,) = split(tmp_path, audience(5) + [{"phone": "12", "name": "x"}])
    output = notify(chunk)
    sensor = BlipMessageStatusSensor(task_id="wait", messages=output, target="accepted", max_failed_ratio=1.0)
    first = sensor.poke(make_context())
    assert first.is_done
    reads = [r for r in blip_conn.records("commands") if r.envelope["uri"].startswith("/notifications")]
    assert len(reads) == 5, "one read per message; the invalid row has none"
    mark = len(blip_conn.records())
    again = sensor.poke(make_context())
    assert since(blip_conn, mark) == [], "a settled message is never read again"
    finished = sensor.finish(again.xcom_value)
    assert set(finished) == {"delivery", "rows", "counts"}
    assert (
        finished["counts"] == {"accepted": 5, "invalid_number": 1}
        or finished["counts"]["invalid_number"] == 1
    )
    rows = list(runfiles.read_jsonl(runfiles.storage_path(finished["delivery"])))
    assert len(rows) == 6


class TestPipelineSteps:
    """What the per-recipient pipeline does beyond lookup and send, counted from the emulator."""

    def test_list_membership_joins_the_pipeline_and_the_list_is_created_once(self, blip_conn, tmp_path):
        (chunk,) = split(tmp_path, audience(40))
        output = notify(chunk, list_name="vip", concurrency=16)
        assert output["counts"] == {"context_set": 40}
        creates = [r for r in blip_conn.records("commands") if r.envelope["uri"] == "/lists"]
        assert len(creates) == 1, "16 threads saw 'list missing' (101) at once: one create"
        members = blip_conn.list_members("vip@broadcast.msging.net")
        assert len(members) == 40
        assert {r.get("list") for r in results(output)} == {"added"}

    def test_the_first_status_read_lands_in_the_results_and_the_wait_reads_nothing(self, blip_conn, tmp_path):
        from airflow_provider_blip.sensors.blip import BlipMessageStatusSensor

        (chunk,) = split(tmp_path, audience(8))
        output = notify(chunk, first_read_after=0.6)  # the emulator has it consumed after 0.5 s
        rows = results(output)
        assert {r["delivery"] for r in rows} == {"consumed"}
        mark = len(blip_conn.records())
        sensor = BlipMessageStatusSensor(task_id="wait", messages=output, target="received")
        assert sensor.poke(make_context()).is_done
        assert since(blip_conn, mark) == [], "every message had settled when the pipeline read it"

    def test_the_breaker_stops_new_sends_and_later_chunks_send_nothing(self, emulator, monkeypatch, tmp_path):
        monkeypatch.setenv(
            "AIRFLOW_CONN_BLIP_DEFAULT",
            connection_json(emulator, messages_per_second=0, commands_per_second=0, concurrency=1),
        )
        rows = audience(60)
        emulator.configure(unregistered_numbers=frozenset(r["phone"] for r in rows[5:40]))
        first, second = split(tmp_path, rows, chunk_size=30)
        out = notify(first, max_failed_ratio=0.3, min_failure_sample=10, concurrency=1)
        assert out["breaker"] is True
        counts = out["counts"]
        assert counts["not_sent"] > 0
        assert counts["not_on_whatsapp"] + counts["context_set"] < 30
        assert len(stored_messages(emulator)) == 5, "no message after the breaker tripped"
        mark = len(emulator.records())
        later = notify(second, max_failed_ratio=0.3, min_failure_sample=10)
        assert later["counts"] == {"not_sent": 30}
        assert since(emulator, mark) == []

    def test_a_wrong_bot_key_costs_one_request_and_no_retry(self, emulator, monkeypatch, tmp_path):
        from airflow.sdk.exceptions import AirflowFailException

        conn = json.loads(connection_json(emulator, messages_per_second=0, commands_per_second=0))
        conn["password"] = "not-the-key-of-this-bot-0000"
        monkeypatch.setenv("AIRFLOW_CONN_BLIP_DEFAULT", json.dumps(conn))
        (chunk,) = split(tmp_path, audience(300))
        with pytest.raises(AirflowFailException) as caught:
            notify(chunk, concurrency=64)
        assert "blip_default" in str(caught.value)
        assert "not-the-key" not in str(caught.value)
        assert len(emulator.records()) == 1, "the first answer stopped every other request"

    def test_skip_if_sent_within_skips_recent_recipients_of_other_jobs(self, blip_conn, tmp_path):
        day = pendulum.datetime(2026, 12, 1, 12, tz="UTC")
        (monday,) = split(tmp_path, audience(10), logical_date=day)
        notify(monday, skip_if_sent_within=3600)
        (tuesday,) = split(tmp_path, audience(15), logical_date=day.add(days=1))
        mark = len(blip_conn.records())
        out = notify(tuesday, skip_if_sent_within=3600)
        assert out["counts"] == {"recently_sent": 10, "context_set": 5}
        assert len(since(blip_conn, mark, "messages")) == 5
        again = notify(tuesday, skip_if_sent_within=3600)  # the same job again: its own sends don't count
        assert again["counts"] == {"recently_sent": 10, "context_set": 5}


def test_a_base_url_with_a_wrong_path_costs_one_request(emulator, monkeypatch, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    conn = json.loads(connection_json(emulator, messages_per_second=0, commands_per_second=0))
    conn["host"] = emulator.url + "/api/v1"  # every endpoint answers 404 there
    monkeypatch.setenv("AIRFLOW_CONN_BLIP_DEFAULT", json.dumps(conn))
    (chunk,) = split(tmp_path, audience(20))
    with pytest.raises(AirflowFailException, match="blip_default"):
        notify(chunk, concurrency=8)
    assert emulator.stats()["requests"]["messages"] == 0


@pytest.mark.slow
def test_a_strict_server_locking_out_the_channel_loses_and_duplicates_no_recipient(
    emulator, monkeypatch, tmp_path
):
    """The server's plan is below the client's pace: every excess locks the channel out (429)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_BLIP_DEFAULT",
        connection_json(emulator, messages_per_second=60, commands_per_second=240, max_retries=6),
    )
    emulator.configure(
        rate_model="sliding",
        rate_limits={"messages": 40, "commands": 200, "notifications": 100},
        arrival_jitter=0.02,
        lockout_seconds=1.0,
    )
    (chunk,) = split(tmp_path, audience(300), chunk_size=300)
    output = None
    for try_number in range(1, 6):
        try:
            output = notify(chunk, try_number=try_number)
            break
        except BlipBatchError:  # retries ran out inside a lockout: the next try resolves them
            continue
    assert output is not None
    seen = emulator.channel_stats()["messages"]
    assert seen.lockouts > 0, "the control: the server did lock the channel out"
    assert seen.refused > 0
    assert output["counts"] == {"context_set": 300}
    sent = stored_messages(emulator)
    assert {to: n for to, n in sent.items() if n > 1} == {}, "duplicates"
    assert len(sent) == 300, "missing recipients"
