"""The chunked job's report: counts from XCom, the undelivered rows from the files, masked."""

from __future__ import annotations


def test_job_report_adds_chunk_counts_and_lists_only_the_undelivered(tmp_path):
    from airflow_provider_blip.utils.report import build_job_report
    from airflow_provider_blip.utils.runfiles import storage_path, write_jsonl

    files = []
    for index, rows in enumerate(
        [
            [{"row": 1, "phone": "+5511987654321", "status": "received"}],
            [
                {"row": 2, "phone": "+5511912345678", "status": "failed", "reason": "Destination not found"},
                {"row": 3, "phone": "12", "status": "invalid_number", "reason": "too short"},
            ],
        ]
    ):
        path = storage_path(tmp_path / f"delivery-{index}.jsonl")
        write_jsonl(path, rows)
        files.append({"delivery": str(path), "counts": {r["status"]: 1 for r in rows}})
    text, counts = build_job_report([*files, None])  # a skipped chunk's wait gives None
    assert counts == {"failed": 1, "invalid_number": 1, "received": 1}
    assert "3 recipients in 2 chunks" in text
    assert "Destination not found" in text
    assert "+5511987654321" not in text
    assert "+5511912345678" not in text
    assert "\n1 " not in text, "a delivered recipient is not listed"


def write_chunks(tmp_path, chunks):
    from airflow_provider_blip.utils.results import summarize
    from airflow_provider_blip.utils.runfiles import storage_path, write_jsonl

    refs = []
    for index, rows in enumerate(chunks):
        path = storage_path(tmp_path / f"delivery-{index:05d}.jsonl")
        write_jsonl(path, rows)
        refs.append({"delivery": str(path), "counts": summarize(rows)})
    return refs


def table_rows(text):
    """The (row, status) pairs of the report's "Not delivered" table."""
    table = text.split("Not delivered", 1)[1].split("\n\nEvery recipient", 1)[0]
    return [(int(line.split()[0]), line.split()[2]) for line in table.splitlines()[3:]]


def test_job_report_lists_real_failures_before_invalid_rows_and_duplicates(tmp_path):
    from airflow_provider_blip.utils.report import REPORT_ROWS, build_job_report

    # 50,000 rows: the duplicates come first in the files, the three delivery failures last.
    first = [{"row": i, "phone": "+5511987654321", "status": "duplicate"} for i in range(1, 49_991)]
    first += [{"row": i, "phone": "123", "status": "invalid_number"} for i in range(49_991, 49_996)]
    last = [{"row": 49_996, "phone": "+5511912345678", "status": "received"}]
    last += [
        {"row": 49_997, "phone": "+5511912345679", "status": "failed", "reason": "Destination not found"},
        {"row": 49_998, "phone": "+5511912345670", "status": "delivery_unknown"},
        {"row": 49_999, "phone": "+5511912345671", "status": "failed", "reason": "Destination not found"},
        {"row": 50_000, "phone": "+5511912345672", "status": "send_failed", "reason": "Blip said 400"},
    ]
    text, counts = build_job_report(write_chunks(tmp_path, [first, last]))

    assert sum(counts.values()) == 50_000
    rows = table_rows(text)
    assert len(rows) == REPORT_ROWS
    assert rows[:4] == [
        (49_997, "failed"),
        (49_998, "delivery_unknown"),
        (49_999, "failed"),
        (50_000, "send_failed"),
    ]
    assert [status for _, status in rows[4:9]] == ["invalid_number"] * 5
    assert {status for _, status in rows[9:]} == {"duplicate"}
    assert rows[9][0] == 1, "each kind in row order"
    assert (
        "Not delivered: 49999 recipients (failed 4, invalid 5, duplicate 49990; the first 200 listed" in text
    )
    assert "+5511912345679" not in text


def test_job_report_lists_every_recipient_when_few_and_none_when_all_delivered(tmp_path):
    from airflow_provider_blip.utils.report import build_job_report

    rows = [
        {"row": 1, "phone": "+5511987654321", "status": "recently_sent"},
        {"row": 2, "phone": "+5511987654322", "status": "lookup_failed", "reason": "timeout"},
        {"row": 3, "phone": "+5511987654323", "status": "consumed"},
    ]
    text, _ = build_job_report(write_chunks(tmp_path / "some", [rows]))
    assert table_rows(text) == [(2, "lookup_failed"), (1, "recently_sent")]
    assert "(failed 1, other 1; all listed)" in text
    delivered, _ = build_job_report(write_chunks(tmp_path / "all", [[rows[2]]]))
    assert "Not delivered: none" in delivered


def test_job_report_keeps_a_bounded_sample_while_streaming(tmp_path):
    import tracemalloc

    from airflow_provider_blip.utils.report import build_job_report

    rows = [
        {"row": i, "phone": f"+55119{i:08d}", "status": "duplicate", "reason": "same as an earlier row " * 4}
        for i in range(1, 30_001)
    ]
    refs = write_chunks(tmp_path, [rows[:15_000], rows[15_000:]])
    del rows
    tracemalloc.start()
    try:
        build_job_report(refs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 30,000 parsed rows held at once would take well over 10 MB; a sample of 200 a few hundred KB.
    assert peak < 2_000_000, peak


def test_report_tables_mask_identities_quoted_in_reasons():
    from airflow_provider_blip.utils.report import render

    text = render(
        [
            {
                "row": 1,
                "phone": "+5511987654321",
                "status": "failed",
                "reason": "5511987654321@wa.gw.msging.net\nunknown",
            }
        ],
        columns=(),
    )
    assert "5511987654321" not in text
    assert "5511*****4321@wa.gw.msging.net unknown" in text


def test_step_report_masks_like_the_log_tables():
    # A raw number that did not parse ("8888-7777") and a number quoted with punctuation in a
    # reason were shown whole by the step report; both tables now share one set of masks.
    from airflow_provider_blip.utils.report import build_report

    rows = [
        {"row": 1, "phone": "8888-7777", "status": "invalid_number", "reason": "too short"},
        {"row": 2, "phone": "+5511912345678", "status": "send_failed", "reason": "refused (11) 91234-5678"},
    ]
    text, _ = build_report(rows)
    assert "8888-7777" not in text
    assert "91234-5678" not in text
    assert "+5511912345678" not in text
    assert "too short" in text
