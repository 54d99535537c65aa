"""The cross-job guard's ledger: recent sends of a template by a DAG, hashed, O(1) per recipient."""

from __future__ import annotations

import os
import stat
import threading
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.ledger import RECORD, LedgerWriter, SentLedger, ledger_dir

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ANA, BIA, CAIO = "+5511987654321", "+5531988887777", "+5521999990001"


def write(root, job_key, sends, *, dag_id="notify", template="order_update", part=None):
    with LedgerWriter(root, dag_id, template, job_key, part=part) as writer:
        for phone, when in sends:
            writer.add(phone, when)
    return writer.path


def load(root, *, window=timedelta(days=1), job_key="today", dag_id="notify", template="order_update", **kw):
    return SentLedger.load(root, dag_id, template, window, NOW, job_key, **kw)


class TestRecentlySent:
    def test_a_send_within_the_window_by_another_job_counts(self, tmp_path):
        write(tmp_path, "yesterday", [(ANA, NOW - timedelta(hours=20)), (BIA, NOW - timedelta(hours=2))])
        ledger = load(tmp_path)
        assert ledger.recently_sent(ANA)
        assert ledger.recently_sent(BIA)
        assert not ledger.recently_sent(CAIO)
        assert len(ledger) == 2

    def test_the_window_ends_at_its_edge(self, tmp_path):
        write(tmp_path, "older", [(ANA, NOW - timedelta(days=1)), (BIA, NOW - timedelta(days=1, seconds=1))])
        ledger = load(tmp_path)
        assert ledger.recently_sent(ANA), "sent exactly one window ago: still inside"
        assert not ledger.recently_sent(BIA)
        assert load(tmp_path, window=timedelta(days=2)).recently_sent(BIA)

    def test_the_running_jobs_own_segments_never_count_against_it(self, tmp_path):
        write(tmp_path, "today", [(ANA, NOW)])
        write(tmp_path, "today", [(BIA, NOW)], part=3)  # another chunk of the same job
        write(tmp_path, "today-2", [(CAIO, NOW)])  # a job whose key merely starts the same
        ledger = load(tmp_path, job_key="today")
        assert not ledger.recently_sent(ANA)
        assert not ledger.recently_sent(BIA)
        assert ledger.recently_sent(CAIO)
        assert load(tmp_path, job_key=None).recently_sent(ANA), "no running job: every segment counts"

    def test_another_template_or_dag_is_another_ledger(self, tmp_path):
        write(tmp_path, "yesterday", [(ANA, NOW)])
        assert not load(tmp_path, template="payment_due").recently_sent(ANA)
        assert not load(tmp_path, dag_id="other_dag").recently_sent(ANA)

    def test_the_hash_is_keyed_by_dag_and_template_not_only_filed_under_them(self, tmp_path):
        source = write(tmp_path, "yesterday", [(ANA, NOW)])
        for dag_id, template in (("other_dag", "order_update"), ("notify", "payment_due")):
            target = ledger_dir(tmp_path, dag_id, template)
            target.mkdir(parents=True, exist_ok=True)
            (target / source.name).write_bytes(source.read_bytes())
            assert not load(tmp_path, dag_id=dag_id, template=template).recently_sent(ANA)

    def test_segments_add_up_and_a_recipient_is_stored_once(self, tmp_path):
        write(tmp_path, "monday", [(ANA, NOW - timedelta(days=3)), (BIA, NOW - timedelta(days=3))])
        write(tmp_path, "tuesday", [(ANA, NOW - timedelta(days=2))], part=0)
        write(tmp_path, "tuesday", [(CAIO, NOW - timedelta(days=2))], part=1)
        ledger = load(tmp_path, window=timedelta(days=7))
        assert len(ledger) == 3
        assert all(ledger.recently_sent(p) for p in (ANA, BIA, CAIO))

    def test_candidates_keep_only_the_numbers_that_will_be_asked_about(self, tmp_path):
        write(tmp_path, "yesterday", [(ANA, NOW), (BIA, NOW), (CAIO, NOW - timedelta(days=3))])
        ledger = load(tmp_path, candidates=[ANA, CAIO, "+5511900000000", "not a number", ""])
        assert len(ledger) == 1
        assert ledger.recently_sent(ANA)
        assert not ledger.recently_sent(CAIO), "sent outside the window"
        assert not ledger.recently_sent(BIA), "not a candidate: never found"
        assert len(load(tmp_path, candidates=[])) == 0


class TestSegments:
    def test_no_number_is_stored_only_hashes_and_times(self, tmp_path):
        path = write(tmp_path, "yesterday", [(ANA, NOW), (BIA, NOW)])
        data = path.read_bytes()
        assert len(data) == 2 * RECORD.size == 24
        for phone in (ANA, BIA):
            assert phone.encode() not in data
            assert phone[1:].encode() not in data
        assert [sent for _, sent in RECORD.iter_unpack(data)] == [int(NOW.timestamp())] * 2

    def test_segments_are_owner_only_and_a_writer_without_sends_leaves_no_file(self, tmp_path):
        path = write(tmp_path, "yesterday", [(ANA, NOW)])
        local = str(path.path)
        assert stat.S_IMODE(os.stat(local).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(local)).st_mode) == 0o700
        empty = write(tmp_path, "nothing-sent", [])
        assert not empty.exists()

    def test_a_retry_appends_to_its_part(self, tmp_path):
        write(tmp_path, "yesterday", [(ANA, NOW)], part=0)
        path = write(tmp_path, "yesterday", [(BIA, NOW)], part=0)
        assert path.name == "yesterday~0.bin"
        assert path.stat().st_size == 2 * RECORD.size

    def test_a_record_cut_by_a_killed_writer_is_dropped(self, tmp_path):
        path = write(tmp_path, "yesterday", [(ANA, NOW), (BIA, NOW)])
        with open(path.path, "ab") as out:
            out.write(RECORD.pack(12345, int(NOW.timestamp()))[:7])
        ledger = load(tmp_path)
        assert len(ledger) == 2
        assert ledger.recently_sent(ANA)
        assert ledger.recently_sent(BIA)

    def test_many_threads_add_whole_records(self, tmp_path):
        phones = [f"+55119{i:08d}" for i in range(4000)]
        with LedgerWriter(tmp_path, "notify", "order_update", "yesterday") as writer:
            threads = [
                threading.Thread(target=lambda part=phones[i::8]: [writer.add(p, NOW) for p in part])
                for i in range(8)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert writer.path.stat().st_size == 4000 * RECORD.size
        ledger = load(tmp_path)
        assert len(ledger) == 4000
        assert all(ledger.recently_sent(p) for p in phones)

    def test_object_store_writers_never_append(self):
        from airflow.sdk.io import attach
        from fsspec.implementations.memory import MemoryFileSystem

        attach("memory", fs=MemoryFileSystem())
        root = "memory:///ledger-test/runs"
        first = write(root, "yesterday", [(ANA, NOW)], part=0)
        second = write(root, "yesterday", [(BIA, NOW)], part=0)  # the retry of that part
        assert first != second
        assert first.name.startswith("yesterday~0~")
        ledger = load(root)
        assert ledger.recently_sent(ANA)
        assert ledger.recently_sent(BIA)
        assert not load(root, job_key="yesterday").recently_sent(ANA)
        first.fs.rm(first.parent.parent.parent.path, recursive=True)


class TestPruning:
    def test_segments_past_the_window_and_its_grace_go(self, tmp_path):
        stale = write(tmp_path, "last-month", [(ANA, NOW - timedelta(days=30))])
        edge = write(tmp_path, "two-days-ago", [(BIA, NOW - timedelta(days=1, hours=12))])  # within grace
        mixed = write(tmp_path, "mixed", [(ANA, NOW - timedelta(days=30)), (CAIO, NOW - timedelta(hours=1))])
        ledger = load(tmp_path)
        assert not stale.exists()
        assert edge.exists()
        assert mixed.exists()
        assert not ledger.recently_sent(ANA)
        assert not ledger.recently_sent(BIA)
        assert ledger.recently_sent(CAIO)

    def test_prune_false_and_the_running_job_keep_their_files(self, tmp_path):
        stale = write(tmp_path, "last-month", [(ANA, NOW - timedelta(days=30))])
        own = write(tmp_path, "today", [(BIA, NOW - timedelta(days=30))])
        load(tmp_path, prune=False)
        assert stale.exists()
        load(tmp_path, job_key="today")
        assert not stale.exists()
        assert own.exists()


class TestInputs:
    def test_window_must_be_a_positive_duration(self, tmp_path):
        with pytest.raises(BlipConfigError, match="skip_if_sent_within must be a positive duration"):
            load(tmp_path, window=timedelta(0))
        assert len(load(tmp_path, window=3)) == 0, "a number of days; no ledger yet is an empty one"

    @pytest.mark.parametrize("phone", ["5511987654321", "+55 11 98765-4321", "(11) 98765-4321", "+1", ""])
    def test_only_e164_numbers_and_the_error_never_shows_them(self, tmp_path, phone):
        writer = LedgerWriter(tmp_path, "notify", "order_update", "today")
        with pytest.raises(ValueError, match="E.164") as error:
            writer.add(phone, NOW)
        assert not phone or phone not in str(error.value)
        with pytest.raises(ValueError, match="E.164"):
            load(tmp_path).recently_sent(phone)

    def test_send_times_are_timezone_aware_and_a_closed_writer_refuses(self, tmp_path):
        writer = LedgerWriter(tmp_path, "notify", "order_update", "today")
        with pytest.raises(ValueError, match="timezone-aware"):
            writer.add(ANA, datetime(2026, 12, 1, 12, 0))
        writer.close()
        with pytest.raises(ValueError, match="closed"):
            writer.add(ANA, NOW)


@pytest.mark.slow
def test_a_million_recipients_load_in_bounded_memory_and_answer_each_lookup(tmp_path):
    phones = [f"+55{ddd}9{i:08d}" for ddd in (11, 21) for i in range(500_000)]
    with LedgerWriter(tmp_path, "notify", "order_update", "yesterday") as writer:
        assert writer.add_many(phones, NOW - timedelta(hours=3)) == 1_000_000
    assert writer.path.stat().st_size == 12_000_000

    tracemalloc.start()
    try:
        ledger = load(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ledger) == 1_000_000
    # 2**21 slots of 8 bytes (16.8 MB) and one read buffer; a set of ints would take ~60 MB.
    assert peak < 24_000_000, peak

    assert all(ledger.recently_sent(phone) for phone in phones[::5])
    assert not any(ledger.recently_sent(f"+55319{i:08d}") for i in range(0, 500_000, 5))

    # One chunk's view of the same ledger: its 1,000 numbers only, whatever the ledger's size.
    chunk = phones[1000:1500] + [f"+55319{i:08d}" for i in range(500)]
    tracemalloc.start()
    try:
        view = load(tmp_path, candidates=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(view) == 500
    assert [view.recently_sent(phone) for phone in chunk] == [True] * 500 + [False] * 500
    assert peak < 4_000_000, peak  # a read block's buffers (768 KB of records, split in columns)


def test_the_table_grows_past_its_first_size(tmp_path, monkeypatch):
    from airflow_provider_blip.utils import ledger as module

    monkeypatch.setattr(module, "_MAX_INITIAL_SLOTS", 1024)  # as 2**21 is for a bigger audience
    with LedgerWriter(tmp_path, "notify", "order_update", "yesterday") as writer:
        writer.add_many([f"+55219{i:08d}" for i in range(20_000)], NOW)
    ledger = load(tmp_path)
    assert len(ledger) == 20_000
    assert ledger.recently_sent("+5521900000000")
    assert ledger.recently_sent("+5521900019999")
    assert not ledger.recently_sent("+5521900020000")
