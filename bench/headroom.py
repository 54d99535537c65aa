"""Measure how many template sends per second one worker process gets, against what users write today.

Both sides send the same WhatsApp template envelope to the emulator, started with a 0.1 s answer
latency (a remote API's round trip) and no rate limit, from this one process:

(a) baseline: what a user writes today in a ``PythonOperator``: a sequential loop of
    ``requests.post(url + "/messages", json=envelope, headers={"Authorization": "Key ..."})``,
    run for ``--duration`` seconds (default 10); rate = sends / elapsed;
(b) the provider: ``BlipSendTemplateOperator`` over ``--sends`` verified recipients (default
    6000), connection extras ``concurrency=256`` and every client-side rate at 0 (no limit);
    rate = sends / wall time of ``execute``, run ``--repeats`` times (default 3): the median run
    counts, all are reported. ``--variants 128`` runs (b) once more at other concurrencies
    (reported, not judged).

Goals: ratio (b) / (a) at least 100, and (b) at least 1,000 sends/s. Airflow and the provider are
imported before any clock starts, as in a worker. The emulator's own message count must equal
the sends each side reports (``messages_match``). The emulator and this process share the
machine's CPUs: on a 2-core machine, the emulator's work is part of what is measured.

Usage::

    .venv/bin/python bench/headroom.py [--duration 10] [--sends 6000] [--concurrency 256]
        [--repeats 3] [--variants 128] [--json bench/results/headroom.json]

Prints ``{"name": "headroom", "baseline_per_s", "provider_per_s", "ratio", ...}`` as JSON;
:func:`run` returns the same dict for ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

GOAL_RATIO = 100
GOAL_RATE = 1000
NO_LIMITS = {"messages_per_second": 0, "commands_per_second": 0, "notifications_per_second": 0}


def envelope(i: int) -> dict[str, Any]:
    """The envelope a hand-written loop sends: the same template the provider renders."""
    return {
        "id": str(uuid.uuid4()),
        "to": f"55119{i:08d}@wa.gw.msging.net",
        "type": "application/json",
        "content": {
            "type": "template",
            "template": {
                "name": harness.TEMPLATE["template_name"],
                "language": {"code": harness.TEMPLATE["language"], "policy": "deterministic"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": f"Cliente {i}"},
                            {"type": "text", "text": f"#{i}"},
                        ],
                    }
                ],
            },
        },
    }


def baseline(url: str, duration: float) -> dict[str, Any]:
    """Send in a plain sequential ``requests.post`` loop for ``duration`` seconds."""
    import requests

    headers = {"Authorization": f"Key {harness.KEY}"}
    sent = failed = 0
    start = time.perf_counter()
    end = start + duration
    while time.perf_counter() < end:
        response = requests.post(url + "/messages", json=envelope(sent + failed), headers=headers, timeout=30)
        if response.status_code < 300:
            sent += 1
        else:
            failed += 1
    elapsed = time.perf_counter() - start
    return {"sent": sent, "failed": failed, "seconds": round(elapsed, 2), "per_s": sent / elapsed}


def verified_rows(count: int) -> list[dict[str, Any]]:
    """Result rows of a lookup, as ``BlipVerifyContactOperator`` returns them."""
    return [
        {
            "row": i,
            "phone": f"+55119{i:08d}",
            "status": "verified",
            "account": f"55119{i:08d}@wa.gw.msging.net",
            "values": {"name": f"Cliente {i}", "order_id": f"#{i}"},
        }
        for i in range(count)
    ]


def provider(url: str, sends: int, concurrency: int) -> dict[str, Any]:
    """Run ``BlipSendTemplateOperator`` over ``sends`` verified rows; time its ``execute``."""
    from airflow_provider_blip.operators.blip import BlipSendTemplateOperator

    harness.use_connection(url, concurrency=concurrency, **NO_LIMITS)
    rows = verified_rows(sends)
    operator = BlipSendTemplateOperator(task_id="send", recipients=rows, **harness.TEMPLATE)
    run_id = f"headroom-{concurrency}-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    results = operator.execute(harness.context("send", run_id))
    wall = time.perf_counter() - start
    sent = sum(1 for r in results if r.get("status") == "sent")
    return {
        "concurrency": concurrency,
        "sent": sent,
        "failed": len(results) - sent,
        "seconds": round(wall, 2),
        "per_s": sent / wall,
    }


def _messages(emulator: harness.Emulator) -> int:
    return int(emulator.stats()["requests"]["messages"])


def _measured(emulator: harness.Emulator, step: Any, *args: Any) -> dict[str, Any]:
    before = _messages(emulator)
    result: dict[str, Any] = step(emulator.url, *args)
    result["emulator_messages"] = _messages(emulator) - before
    result["messages_match"] = result["emulator_messages"] == result["sent"]
    result["per_s"] = round(result["per_s"], 1)
    return result


def run(
    duration: float = 10.0,
    sends: int = 6000,
    concurrency: int = 256,
    variants: tuple[int, ...] = (128,),
    latency: float = 0.1,
    repeats: int = 3,
) -> dict[str, Any]:
    """Measure the baseline loop, the provider ``repeats`` times at ``concurrency``, each variant once."""
    harness.isolate_airflow()
    import requests  # noqa: F401  # imported before the clocks, like Airflow below

    from airflow_provider_blip.operators import blip  # noqa: F401

    load = os.getloadavg()[0]
    with harness.Emulator("--latency", str(latency), "--rate-limit", "off") as emulator:
        base = _measured(emulator, baseline, duration)
        runs = [_measured(emulator, provider, sends, concurrency) for _ in range(max(1, repeats))]
        others = [_measured(emulator, provider, sends, c) for c in variants]
        refused = emulator.stats()["refused"]

    main = sorted(runs, key=lambda r: r["per_s"])[(len(runs) - 1) // 2]  # the median run

    ratio = main["per_s"] / base["per_s"] if base["per_s"] else float("inf")
    checks = [base, *runs, *others]
    options: list[object] = ["--duration", duration, "--sends", sends, "--concurrency", concurrency]
    options += ["--repeats", repeats, "--variants", *variants]
    return {
        "name": "headroom",
        "latency_s": latency,
        "baseline_per_s": base["per_s"],
        "provider_per_s": main["per_s"],
        "ratio": round(ratio, 1),
        "baseline": base,
        "provider": main,
        "provider_runs_per_s": [r["per_s"] for r in runs],
        "variants": others,
        "load_average_1m_before": round(load, 2),
        "messages_match": all(c["messages_match"] and not c["failed"] for c in checks),
        "refused": refused,
        "goal": {"ratio": f">= {GOAL_RATIO}", "provider_per_s": f">= {GOAL_RATE}"},
        "met": ratio >= GOAL_RATIO and main["per_s"] >= GOAL_RATE,
        "command": harness.command_line("headroom.py", *options, "--latency", latency),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=10.0, help="baseline seconds (default 10)")
    parser.add_argument("--sends", type=int, default=6000, help="provider sends (default 6000)")
    parser.add_argument("--concurrency", type=int, default=256, help="provider concurrency (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="provider runs; the median counts (default 3)")
    parser.add_argument(
        "--variants", type=int, nargs="*", default=[128], help="other concurrencies to report (default 128)"
    )
    parser.add_argument("--latency", type=float, default=0.1, help="emulator answer latency, s (default 0.1)")
    parser.add_argument("--json", metavar="PATH", help="also write the result to PATH")
    args = parser.parse_args(argv)
    with harness.logs_to_stderr():
        result = run(
            duration=args.duration,
            sends=args.sends,
            concurrency=args.concurrency,
            variants=tuple(args.variants),
            latency=args.latency,
            repeats=args.repeats,
        )
    harness.emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
