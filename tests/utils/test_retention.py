"""Retention: old jobs' run files go, recent ones and the ledger stay, nothing outside the root."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils import retention
from airflow_provider_blip.utils.retention import JobFiles, check_retention, clean_runs, expired, list_jobs

NOW = time.time()
DAYS = 86400


def put(path, *, age_days: float, text: str = "{}\n"):
    """Write a file dated ``age_days`` before NOW."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    age(path, age_days)
    return path


def age(path, age_days: float):
    stamp = NOW - age_days * DAYS
    os.utime(path, (stamp, stamp), follow_symlinks=False)


@pytest.fixture
def runs(tmp_path):
    """A runs root with both layouts, a ledger and another DAG, each dated."""
    root = tmp_path / "runs"
    dag = root / "notify_dag"
    put(dag / "manual__old" / "chunks" / "00000.jsonl", age_days=30)  # the {run_id} layout
    put(dag / "manual__old" / "results" / "notify" / "00000" / "try-1.jsonl", age_days=29)
    put(dag / "jobs" / "old-job" / "chunks" / "00000.jsonl", age_days=8)  # the jobs/{job_key} layout
    put(dag / "jobs" / "fresh-job" / "chunks" / "00000.jsonl", age_days=1)
    put(dag / "jobs" / "resumed-job" / "chunks" / "00000.jsonl", age_days=40)
    put(dag / "jobs" / "resumed-job" / "journal" / "try-2.jsonl", age_days=2)  # resumed two days ago
    put(dag / "ledger" / "order_update" / "old-job.bin", age_days=60, text="")
    put(root / "other_dag" / "manual__old" / "chunks" / "00000.jsonl", age_days=30)
    age_directories(root)
    return root


def age_directories(root, age_days: float = 100):
    # Creating a file touches its directory; date them all back so that the files decide.
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())]:
        age(directory, age_days)


def names(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


class TestCleanRuns:
    def test_removes_the_jobs_untouched_for_the_retention_in_both_layouts(self, runs):
        result = clean_runs(runs, dag_ids=["notify_dag"], now=datetime.fromtimestamp(NOW, UTC))
        assert result.counts() == {"jobs_removed": 2, "files_removed": 3, "jobs_kept": 2, "jobs_failed": 0}
        assert names(runs) == [
            "notify_dag/jobs/fresh-job/chunks/00000.jsonl",
            "notify_dag/jobs/resumed-job/chunks/00000.jsonl",
            "notify_dag/jobs/resumed-job/journal/try-2.jsonl",
            "notify_dag/ledger/order_update/old-job.bin",  # pruned by its own window, not here
            "other_dag/manual__old/chunks/00000.jsonl",  # not in dag_ids
        ]

    def test_a_longer_retention_keeps_more_and_a_later_now_removes_all_but_the_ledger(self, runs):
        kept = clean_runs(
            runs, dag_ids=["notify_dag"], retention=timedelta(days=9), now=datetime.fromtimestamp(NOW, UTC)
        )
        assert kept.jobs_removed == 1  # only the 30-day-old run; the 8-day-old job stays
        later = datetime.fromtimestamp(NOW, UTC) + timedelta(days=30)
        clean_runs(runs, dag_ids=["notify_dag", "other_dag"], now=later)
        assert names(runs) == ["notify_dag/ledger/order_update/old-job.bin"]

    def test_dag_ids_map_to_folders_as_the_run_files_spell_them(self, runs):
        put(runs / "my_dag_v2" / "manual__old" / "x.jsonl", age_days=30)
        age_directories(runs)
        result = clean_runs(runs, dag_ids=["my dag:v2", "never_ran"], now=datetime.fromtimestamp(NOW, UTC))
        assert result.jobs_removed == 1, "'my dag:v2' is stored as 'my_dag_v2' (runfiles.safe_segment)"
        assert (runs / "notify_dag" / "manual__old").is_dir()

    def test_an_unremovable_job_is_counted_and_the_others_still_go(self, runs, monkeypatch):
        real = retention.shutil.rmtree

        def refuse_old_run(path, *args, **kwargs):
            if path.endswith("manual__old"):
                raise PermissionError(13, "Permission denied", path)
            return real(path, *args, **kwargs)

        monkeypatch.setattr(retention.shutil, "rmtree", refuse_old_run)
        result = clean_runs(runs, dag_ids=["notify_dag"], now=datetime.fromtimestamp(NOW, UTC))
        assert (result.jobs_removed, result.jobs_failed) == (1, 1)
        assert (runs / "notify_dag" / "manual__old").is_dir()
        assert not (runs / "notify_dag" / "jobs" / "old-job").exists()


class TestLinksAndTheRoot:
    @pytest.fixture
    def outside(self, tmp_path):
        target = put(tmp_path / "outside" / "precious.csv", age_days=100, text="phone\n+5511987654321\n")
        age(target.parent, 100)
        return target

    def test_a_link_inside_an_old_job_is_removed_as_a_link_its_target_stays(self, runs, outside):
        link = runs / "notify_dag" / "jobs" / "old-job" / "audience.csv"
        link.symlink_to(outside)
        age(link, 10)
        age_directories(runs)
        clean_runs(runs, dag_ids=["notify_dag"], now=datetime.fromtimestamp(NOW, UTC))
        assert not os.path.lexists(link)
        assert outside.read_text() == "phone\n+5511987654321\n"

    def test_linked_job_jobs_and_dag_directories_are_never_followed(self, tmp_path, outside):
        root = tmp_path / "runs"
        (root / "notify_dag" / "jobs").mkdir(parents=True)
        (root / "notify_dag" / "manual__linked").symlink_to(outside.parent, target_is_directory=True)
        (root / "notify_dag" / "jobs" / "linked-job").symlink_to(outside.parent, target_is_directory=True)
        (root / "linked_dag").symlink_to(outside.parent, target_is_directory=True)
        (root / "other").mkdir()
        (root / "other" / "jobs").symlink_to(outside.parent, target_is_directory=True)

        later = datetime.fromtimestamp(NOW, UTC) + timedelta(days=365)
        result = clean_runs(root, dag_ids=["notify_dag", "linked_dag", "other"], now=later)
        assert result.counts() == {"jobs_removed": 0, "files_removed": 0, "jobs_kept": 0, "jobs_failed": 0}
        assert outside.read_text() == "phone\n+5511987654321\n"
        assert list_jobs(root, "linked_dag") == []

    def test_a_recent_link_keeps_its_job_whatever_its_target_age(self, runs, outside):
        link = runs / "notify_dag" / "jobs" / "old-job" / "audience.csv"
        link.symlink_to(outside)  # the link is new, its target is 100 days old
        age_directories(runs)
        result = clean_runs(runs, dag_ids=["notify_dag"], now=datetime.fromtimestamp(NOW, UTC))
        assert (runs / "notify_dag" / "jobs" / "old-job").is_dir()
        assert result.jobs_removed == 1  # the 30-day-old run only

    def test_a_root_that_is_itself_a_link_is_cleaned_through(self, runs, tmp_path):
        (tmp_path / "runs-link").symlink_to(runs, target_is_directory=True)
        result = clean_runs(
            tmp_path / "runs-link", dag_ids=["notify_dag"], now=datetime.fromtimestamp(NOW, UTC)
        )
        assert result.jobs_removed == 2
        assert (runs / "notify_dag" / "jobs" / "fresh-job").is_dir()

    def test_remove_refuses_a_path_outside_the_root(self, runs, outside):
        tree = retention._tree(runs)
        with pytest.raises(OSError, match="not under the runs root"):
            tree.remove(JobFiles(path=str(outside.parent), newest=None, files=1))
        with pytest.raises(OSError, match="not under the runs root"):
            tree.remove(JobFiles(path=str(runs / "notify_dag"), newest=None, files=1))
        assert outside.exists()
        assert (runs / "notify_dag").is_dir()


class TestObjectStore:
    @pytest.fixture
    def store(self):
        from airflow.sdk import ObjectStoragePath
        from airflow.sdk.io import attach
        from fsspec.implementations.memory import MemoryFileSystem

        attach("memory", fs=MemoryFileSystem())
        root = ObjectStoragePath("memory:///retention-test/runs")
        for name in (
            "notify_dag/jobs/a/chunks/00000.jsonl",
            "notify_dag/manual__1/x.jsonl",
            "notify_dag/ledger/t/a.bin",
        ):
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}\n")
        yield root
        root.fs.rm(root.path, recursive=True)

    def test_jobs_are_dated_by_the_store_and_the_ledger_stays(self, store):
        now = datetime.now(UTC)
        assert clean_runs(str(store), dag_ids=["notify_dag"], now=now).counts()["jobs_kept"] == 2
        result = clean_runs(str(store), dag_ids=["notify_dag"], now=now + timedelta(days=8))
        assert result.counts() == {"jobs_removed": 2, "files_removed": 2, "jobs_kept": 0, "jobs_failed": 0}
        assert store.fs.find(store.path) == [f"{store.path}/notify_dag/ledger/t/a.bin"]

    def test_an_object_without_a_time_keeps_its_job(self, store, monkeypatch):
        real = store.fs.find

        def without_times(path, **kwargs):
            found = real(path, **kwargs)
            return {name: {k: v for k, v in info.items() if k != "created"} for name, info in found.items()}

        monkeypatch.setattr(store.fs, "find", without_times)
        later = datetime.now(UTC) + timedelta(days=30)
        assert clean_runs(str(store), dag_ids=["notify_dag"], now=later).jobs_removed == 0


def test_modified_reads_the_time_keys_of_the_common_stores():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert retention._modified({"mtime": moment.timestamp()}) == moment
    assert retention._modified({"LastModified": moment}) == moment
    assert retention._modified({"updated": "2026-01-02T03:04:05Z"}) == moment
    assert retention._modified({"last_modified": moment.replace(tzinfo=None)}) == moment
    assert retention._modified({"size": 3}) is None


def test_expired_is_strictly_older_than_the_retention_and_never_unknown():
    now = datetime(2026, 1, 10, tzinfo=UTC)
    jobs = [
        JobFiles("a", now - timedelta(days=7, seconds=1), 1),
        JobFiles("b", now - timedelta(days=7), 1),
        JobFiles("c", None, 1),
    ]
    assert [j.path for j in expired(jobs, retention=timedelta(days=7), now=now)] == ["a"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(timedelta(hours=12), timedelta(hours=12)), (7, timedelta(days=7)), ("0.5", timedelta(hours=12))],
)
def test_check_retention_accepts_durations_and_days(value, expected):
    assert check_retention(value) == expected


@pytest.mark.parametrize("value", [0, -1, "abc", True, float("nan"), timedelta(0), None, "inf"])
def test_check_retention_refuses_what_is_not_a_positive_duration(value):
    with pytest.raises(BlipConfigError, match="retention must be a positive duration"):
        check_retention(value)


class TestOperator:
    def context(self, dag_id="notify_dag"):
        return {"ti": SimpleNamespace(dag_id=dag_id)}

    def test_cleans_its_own_dag_by_default_and_returns_counts(self, runs, monkeypatch):
        from airflow_provider_blip.operators.cleanup import BlipCleanupRunsOperator

        counts = BlipCleanupRunsOperator(task_id="cleanup", runs_path=str(runs)).execute(self.context())
        assert counts == {"jobs_removed": 2, "files_removed": 3, "jobs_kept": 2, "jobs_failed": 0}
        assert (runs / "other_dag" / "manual__old").is_dir()

    def test_runs_path_defaults_to_the_operators_root_and_retention_may_be_rendered_days(
        self, runs, monkeypatch
    ):
        from airflow_provider_blip.operators.cleanup import BlipCleanupRunsOperator

        monkeypatch.setenv("AIRFLOW_PROVIDER_BLIP_RUNS_PATH", str(runs))
        operator = BlipCleanupRunsOperator(
            task_id="cleanup", retention="{{ params.retention_days }}", dag_ids=["other_dag"]
        )
        operator.retention = "40"  # as rendered from a param, without native rendering
        assert operator.execute(self.context())["jobs_kept"] == 1
        operator.retention = 20
        assert operator.execute(self.context())["jobs_removed"] == 1

    def test_wrong_arguments_fail_when_the_dag_is_parsed_or_rendered(self, runs):
        from airflow_provider_blip.operators.cleanup import BlipCleanupRunsOperator

        with pytest.raises(BlipConfigError, match="retention"):
            BlipCleanupRunsOperator(task_id="cleanup", retention=timedelta(days=-7))
        with pytest.raises(ValueError, match="list of DAG ids"):
            BlipCleanupRunsOperator(task_id="cleanup", dag_ids="notify_dag")
        operator = BlipCleanupRunsOperator(task_id="cleanup", runs_path=str(runs), retention="{{ x }}")
        operator.retention = "seven"
        with pytest.raises(BlipConfigError, match="retention"):
            operator.execute(self.context())
