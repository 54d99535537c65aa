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
