"""The per-try journal and the run files it is written to (local files, no network)."""

from __future__ import annotations

import pytest

from airflow_provider_blip.utils import journal, runfiles


@pytest.fixture
def directory(tmp_path):
    return runfiles.storage_path(tmp_path / "results")


def test_a_line_cut_by_a_killed_writer_is_dropped(directory):
    path = journal.try_file(directory, 1)
    directory.mkdir(parents=True)
    path.write_text('{"row":1,"status":"sent"}\n{"row":2,"sta')
    assert list(runfiles.read_jsonl(path)) == [{"row": 1, "status": "sent"}]


def test_later_lines_win_and_unknown_results_are_rechecked(directory):
    first = journal.Writer(directory, 1)
    first.intent(1, "a@wa", "m1")
    first.result({"row": 1, "status": "sent", "message_id": "m1"})
    first.intent(2, "b@wa", "m2")
    first.result({"row": 3, "status": "unknown", "account": "c@wa"})
    first.close()
    progress = journal.load(directory, 2)
    assert progress.trusted
    assert set(progress.done) == {1}
    assert set(progress.in_flight) == {2, 3}
    assert progress.must_check(2)
    assert not progress.must_check(4), "a row no journal mentions was never sent"


def test_a_missing_earlier_try_makes_every_row_checked(directory):
    journal.Writer(directory, 2).close()  # try 1 left nothing readable (e.g. another machine)
    progress = journal.load(directory, 3)
    assert not progress.trusted
    assert progress.must_check(1)


def test_results_leave_intent_lines_out(directory):
    writer = journal.Writer(directory, 1)
    writer.intent(1, "a@wa", "m1")
    writer.result({"row": 1, "status": "sent"})
    writer.close()
    assert list(journal.read_results(writer.path)) == [{"row": 1, "status": "sent"}]


def test_run_ids_become_safe_path_segments():
    assert runfiles.safe_segment("manual__2026-11-21T09:00:00+00:00") == "manual__2026-11-21T09_00_00_00_00"
    assert runfiles.safe_segment("../..") == "_"


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(runfiles.ROOT_ENV, str(tmp_path))
    assert runfiles.default_root() == str(tmp_path)
    monkeypatch.delenv(runfiles.ROOT_ENV)
    monkeypatch.setenv("AIRFLOW_HOME", "/opt/airflow")
    assert runfiles.default_root() == "/opt/airflow/blip-runs"
