"""The chunked job with its run files on S3: split, notify, the delivery trigger and the report.

The bucket is on moto's S3 server, started on loopback by ``tests/s3/conftest.py``; Airflow
reaches it through ``ObjectStoragePath`` and the Amazon provider's filesystem (s3fs). Every
task runs as in its own process (:func:`new_process`): what one task wrote reaches the next
only through the bucket, as with workers and a triggerer on several machines. Counts come
from what the Blip emulator stored, listings from the bucket itself.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

pytest.importorskip(
    "moto.server", reason="the S3 tests need the test extra's moto (pip install '.[test,s3]')"
)
pytest.importorskip("s3fs", reason="the S3 tests need the s3 extra (pip install '.[test,s3]')")
pytest.importorskip("airflow.providers.amazon", reason="the S3 tests need the s3 extra")

from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_blip.operators.notify import (
    BlipNotifyOperator,
    BlipSplitAudienceOperator,
)
from airflow_provider_blip.sensors.blip import BlipMessageStatusSensor
from airflow_provider_blip.triggers.blip import BlipMessageStatusTrigger
from airflow_provider_blip.utils import journal, runfiles
from airflow_provider_blip.utils.report import build_job_report
from tests.conftest import make_context
from tests.operators.notify_worker import FLOW, TEMPLATE
from tests.operators.test_notify import audience, since, stored_messages
from tests.s3.conftest import new_process

pytestmark = pytest.mark.slow

#: The job of a context without a logical date: the run id stands for it.
JOB = "dag/jobs/run-run-1"
ATTEMPT = r"\d{20}-\d+-[0-9a-f]{6}"
#: Seconds from a send to ``received``: long enough that each chunk's first poke, made right
#: after its sends, still finds them on their way, so the sensor defers.
RECEIVED_AFTER = 3.0


@pytest.fixture
def no_local_files(tmp_path, monkeypatch, no_local_modes):
    """Watch the default runs root and the current directory: the test may write to neither."""
    default_root = tmp_path / "default-root"
    monkeypatch.setenv(runfiles.ROOT_ENV, str(default_root))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield
    assert not default_root.exists(), "nothing may be written under the default runs root"
    assert list(cwd.iterdir()) == [], "an S3 key was taken for a local path"
    assert no_local_modes == [], "the owner-only code ran on S3"


@pytest.fixture
def job_files(no_local_files, bucket):
    """The runs root: in the bucket, through the ``aws_default`` connection."""
    return bucket.uri()


def split(root, rows, chunk_size):
    new_process()
    op = BlipSplitAudienceOperator(task_id="split", audience=rows, runs_path=root, chunk_size=chunk_size)
    return op.execute(make_context())


def notify(chunk, try_number=1):
    new_process()
    op = BlipNotifyOperator(
        task_id="notify", chunk=chunk, max_failed_ratio=1.0, first_read_after=None, **TEMPLATE, **FLOW
    )
    ctx = make_context(try_number=try_number, map_index=chunk["index"])
    ctx["ti"].task_id = "notify"
    return op.execute(ctx)


def wait_for_delivery(output):
    return BlipMessageStatusSensor(
        task_id="wait",
        messages=output,
        deferrable=True,
        poke_interval=0.5,
        max_wait=1.0,
        max_failed_ratio=1.0,
    )


def defer(output):
    """Run the sensor's first poke on a worker; return the trigger kwargs it hands over."""
    new_process()
    with pytest.raises(TaskDeferred) as deferred:
        wait_for_delivery(output).execute(make_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, BlipMessageStatusTrigger)
    _, kwargs = trigger.serialize()
    return json.loads(json.dumps(kwargs))  # stored by Airflow, rebuilt by the triggerer


def triggerer(stored):
    """Run every deferred wait in one event loop, as one triggerer would; return their events."""
    new_process()

    async def first_event(trigger):
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    async def run_all():
        return await asyncio.gather(*(first_event(BlipMessageStatusTrigger(**kw)) for kw in stored))

    return asyncio.run(run_all())


def resume(output, event):
    """The sensor after deferral: a new worker, a new operator, the trigger's event."""
    new_process()
    return wait_for_delivery(output).execute_complete(make_context(), event)


def chunk_dir_keys(bucket, index):
    return bucket.keys(f"blip-runs/{JOB}/results/notify/{index:05d}/")


def test_the_chunked_job_runs_with_its_files_on_s3(job_files, bucket, blip_conn):
    # Nobody reads the message (read_ratio=0): each ends at the target, received, never beyond.
    blip_conn.configure(delivery_delays={"received": RECEIVED_AFTER}, read_ratio=0.0)
    rows = audience(25) + [{"phone": "12", "name": "x"}]  # rows 1-26; the last one is invalid

    chunks = split(job_files, rows, chunk_size=10)
    assert [c["rows"] for c in chunks] == [10, 10, 6]
    assert all(c["chunk"].startswith(f"{job_files}/{JOB}/chunks/") for c in chunks), "S3 URIs in XCom"

    outputs, stored = [], []
    for chunk in chunks:
        outputs.append(notify(chunk))
        stored.append(defer(outputs[-1]))  # right after the sends: none has been received yet
    assert [o["counts"] for o in outputs] == [
        {"context_set": 10},
        {"context_set": 10},
        {"context_set": 5, "invalid_number": 1},
    ]
    assert all(len(kw["results"]) == 1 and kw["results"][0].startswith("s3://") for kw in stored)
    events = triggerer(stored)
    assert {e["status"] for e in events} == {"success"}
    deliveries = [resume(o, e) for o, e in zip(outputs, events, strict=True)]

    text, counts = build_job_report(deliveries)
    assert counts == {"invalid_number": 1, "received": 25}
    assert "26 recipients in 3 chunks" in text
    assert f"  {job_files}/{JOB}/results/notify/00002/delivery-" in text, "the report points into the bucket"
    assert "+5511900000001" not in text

    sent = stored_messages(blip_conn)
    assert len(sent) == 25
    assert set(sent.values()) == {1}, "every recipient messaged once"

    assert bucket.keys(f"blip-runs/{JOB}/chunks/") == [
        "00000.jsonl",
        "00001.jsonl",
        "00002.jsonl",
        "manifest.json",
    ]
    for output in outputs:
        stem = runfiles.storage_path(output["results"]).stem  # the attempt's name
        assert re.fullmatch(ATTEMPT, stem)
        # Its marker, its journal (which is its results file), the sensor's hand-off to the
        # trigger and the final delivery statuses.
        assert chunk_dir_keys(bucket, output["index"]) == sorted(
            [f"{stem}.start", f"{stem}.jsonl", f"delivery-{stem}.deferred.jsonl", f"delivery-{stem}.jsonl"]
        )
    delivered = list(runfiles.read_jsonl(runfiles.storage_path(deliveries[0]["delivery"])))
    assert {r["status"] for r in delivered} == {"received"}

    # A second attempt on a finished chunk resumes from its journal in the bucket: no request.
    mark = len(blip_conn.records())
    again = notify(chunks[0], try_number=2)
    assert again["counts"] == {"context_set": 10}
    assert since(blip_conn, mark) == [], "finished recipients cost no request"
    assert sum(n.endswith(".start") for n in chunk_dir_keys(bucket, 0)) == 2
    assert len(list(journal.read_results(runfiles.storage_path(again["results"])))) == 10

    # A killed attempt on an object store leaves its marker but not its journal (uploaded on
    # close): the next attempt cannot trust the gap and asks Blip about every open send.
    killed = runfiles.storage_path(outputs[1]["results"]).name
    bucket.delete(f"blip-runs/{JOB}/results/notify/00001/{killed}")
    mark = len(blip_conn.records())
    after = notify(chunks[1], try_number=2)
    assert after["counts"] == {"context_set": 10}
    reads = [r for r in since(blip_conn, mark, "commands") if r.envelope["uri"].startswith("/notifications")]
    assert len(reads) == 10, "each of the chunk's sends was checked with Blip"
    assert since(blip_conn, mark, "messages") == [], "Blip had every message: none sent again"
    assert set(stored_messages(blip_conn).values()) == {1}


def test_owner_only_modes_are_a_no_op_on_s3(job_files, bucket):
    path = runfiles.storage_path(job_files) / "dag" / "x" / "file.jsonl"
    assert runfiles.local_path(path) is None
    runfiles.make_dirs(path.parent)
    assert runfiles.write_jsonl(path, [{"row": 1}]) == 1
    with runfiles.open_private(path.parent / "other.json", "w", encoding="utf-8") as out:
        out.write("{}")
    assert bucket.keys("blip-runs/dag/") == ["x/file.jsonl", "x/other.json"]


def test_a_root_without_a_connection_uses_the_aws_sdks_own_credentials(
    no_local_files, monkeypatch, bucket, s3_server
):
    """``s3://bucket/...`` names no Airflow connection: boto's chain (here AWS_* variables) applies."""
    from tests.s3.conftest import FAKE_KEYS, REGION

    root = bucket.uri(conn_id=None)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEYS["key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_KEYS["secret"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")
    chunks = split(root, audience(3), chunk_size=10)
    assert chunks[0]["chunk"].startswith(f"s3://{bucket.name}/blip-runs/")
    assert bucket.keys() == [f"{JOB}/chunks/00000.jsonl", f"{JOB}/chunks/manifest.json"]
