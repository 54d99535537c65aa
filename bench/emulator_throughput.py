"""Measure how many requests per second the Blip emulator sustains with a fixed answer latency.

The emulator runs in its own process (the CLI, as a user would start it); the load comes from
other processes, each running many keep-alive connections on asyncio with raw HTTP/1.1. Every
connection sends one request at a time (no pipelining), alternating a ``get /ping`` command and a
WhatsApp template ``/messages`` envelope. With a 0.1 s latency, throughput is bounded by
``connections / latency``, so the default 400 connections allow up to ~4,000 requests/s.

Usage::

    .venv/bin/python bench/emulator_throughput.py [--duration 10] [--connections 400]
        [--workers 1] [--latency 0.1] [--json bench/results/emulator_throughput.json]

Prints ``{"requests", "seconds", "requests_per_second", "latency_s", "errors", ...}`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
KEY = "bench-key"
TEMPLATE_CONTENT = {
    "type": "template",
    "template": {
        "name": "order_update",
        "language": {"code": "pt_BR", "policy": "deterministic"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#1234"}],
            }
        ],
    },
}


def build_request(path: str, envelope: dict[str, Any], host: str) -> bytes:
    body = json.dumps(envelope, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Key {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def next_request(worker: int, conn: int, seq: int, host: str) -> bytes:
    message_id = f"bench-{worker}-{conn}-{seq}"
    if seq % 2:
        envelope = {
            "id": message_id,
            "to": f"55119{conn:08d}@wa.gw.msging.net",
            "type": "application/json",
            "content": TEMPLATE_CONTENT,
        }
        return build_request("/messages", envelope, host)
    command = {"id": message_id, "to": "postmaster@msging.net", "method": "get", "uri": "/ping"}
    return build_request("/commands", command, host)


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"(?i)content-length: *(\d+)", head)
    if match and int(match.group(1)):
        await reader.readexactly(int(match.group(1)))
    return status


async def drive_connection(
    worker: int, conn: int, host: str, port: int, window: tuple[float, float], counts: dict[str, int]
) -> None:
    start, end = window
    seq, reconnects = 0, 0
    while time.time() < end and reconnects < 20:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            reconnects += 1
            counts["errors"] += 1
            await asyncio.sleep(0.05)
            continue
        try:
            while time.time() < end:
                writer.write(next_request(worker, conn, seq, host))
                seq += 1
                status = await read_response(reader)
                if start <= time.time() < end:
                    counts["ok" if status < 300 else "errors"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            reconnects += 1
            counts["errors"] += 1
        finally:
            writer.close()


async def run_worker(
    worker: int, host: str, port: int, connections: int, window: tuple[float, float]
) -> dict[str, int]:
    counts = {"ok": 0, "errors": 0}
    # Spread connection set-up over the warm-up instead of one SYN burst.
    await asyncio.sleep(max(0.0, window[0] - 1.0 - time.time()))
    tasks = [drive_connection(worker, c, host, port, window, counts) for c in range(connections)]
    await asyncio.gather(*tasks)
    return counts


def worker_main(
    worker: int, host: str, port: int, connections: int, window: tuple[float, float], queue: Any
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    queue.put(asyncio.run(run_worker(worker, host, port, connections, window)))


def start_emulator(latency: float, no_uvloop: bool) -> tuple[subprocess.Popen[str], str, int]:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "blip_emulator", "--port", "0", "--key", KEY]
    command += ["--latency", str(latency), "--rate-limit", "off"] + (["--no-uvloop"] if no_uvloop else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    assert process.stdout is not None
    deadline = time.time() + 30
    while time.time() < deadline:
        line = process.stdout.readline()
        match = re.search(r"http://([\d.]+):(\d+)", line)
        if match:
            return process, match.group(1), int(match.group(2))
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("the emulator did not start")


def server_stats(host: str, port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{host}:{port}/_emulator/stats", timeout=10) as response:
        stats: dict[str, Any] = json.load(response)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring (default 2)")
    parser.add_argument("--connections", type=int, default=400, help="keep-alive connections in total")
    parser.add_argument("--workers", type=int, default=1, help="load-generator processes (default 1)")
    parser.add_argument("--latency", type=float, default=0.1, help="emulator latency in seconds")
    parser.add_argument("--no-uvloop", action="store_true", help="run the emulator on the stock asyncio loop")
    parser.add_argument("--json", metavar="PATH", help="also write the result to PATH")
    args = parser.parse_args(argv)

    process, host, port = start_emulator(args.latency, args.no_uvloop)
    try:
        start = time.time() + args.warmup
        window = (start, start + args.duration)
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        per_worker = max(1, args.connections // args.workers)
        workers = [
            context.Process(target=worker_main, args=(w, host, port, per_worker, window, queue))
            for w in range(args.workers)
        ]
        for worker in workers:
            worker.start()
        results = [queue.get(timeout=args.warmup + args.duration + 120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        stats = server_stats(host, port)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()

    completed = sum(r["ok"] for r in results)
    result = {
        "requests": completed,
        "seconds": args.duration,
        "requests_per_second": round(completed / args.duration, 1),
        "latency_s": args.latency,
        "errors": sum(r["errors"] for r in results),
        "connections": per_worker * args.workers,
        "workers": args.workers,
        "server_loop": "asyncio" if args.no_uvloop else "uvloop if installed",
        "server_total_requests": stats["total_requests"],
        "cpu_count": os.cpu_count(),
    }
    text = json.dumps(result)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
