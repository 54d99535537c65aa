"""The per-attempt journal and the run files it is written to (local files, no network)."""

from __future__ import annotations

import pytest

from airflow_provider_blip.utils import journal, runfiles


@pytest.fixture
def directory(tmp_path):
    return runfiles.storage_path(tmp_path / "results")


def test_a_line_cut_by_a_killed_writer_is_dropped(directory):
    path = directory / "cut.jsonl"
    directory.mkdir(parents=True)
    path.write_text('{"row":1,"status":"sent"}\n{"row":2,"sta')
    assert list(runfiles.read_jsonl(path)) == [{"row": 1, "status": "sent"}]


def test_later_lines_win_and_unknown_results_are_rechecked(directory):
    first = journal.Writer(directory)
    first.intent(1, "a@wa", "m1")
    first.result({"row": 1, "status": "sent", "message_id": "m1"})
    first.intent(2, "b@wa", "m2")
    first.result({"row": 3, "status": "unknown", "account": "c@wa"})
    first.close()
    progress = journal.load(directory)
    assert progress.trusted
    assert set(progress.done) == {1}
    assert set(progress.in_flight) == {2, 3}
    assert progress.must_check(2)
    assert not progress.must_check(4), "a row no journal mentions was never sent"


def test_a_missing_earlier_attempt_makes_every_row_checked(directory):
    lost = journal.Writer(directory)
    lost.close()
    lost.path.unlink()  # its marker stays: it ran, but left nothing readable (e.g. another machine)
    journal.Writer(directory).close()
    progress = journal.load(directory)
    assert not progress.trusted
    assert progress.must_check(1)


def test_attempts_never_truncate_each_other_whatever_their_try_number(directory):
    # `airflow tasks test` re-runs a killed task with the same try number: both attempts count.
    first = journal.Writer(directory)
    first.intent(1, "a@wa", "m1")  # killed right after: no close
    second = journal.Writer(directory)
    assert second.path != first.path
    second.result({"row": 2, "status": "sent"})
    second.close()
    progress = journal.load(directory)
    assert set(progress.in_flight) == {1}
    assert set(progress.done) == {2}
    assert progress.trusted


def test_a_directory_no_attempt_wrote_is_an_empty_trusted_journal(directory):
    progress = journal.load(directory)
    assert progress.trusted
    assert not progress.done
    assert not progress.in_flight


def test_results_leave_intent_lines_out(directory):
    writer = journal.Writer(directory)
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
