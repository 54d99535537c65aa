"""Command line: ``python -m blip_emulator`` (console script ``blip-emulator``)."""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from blip_emulator.config import STRICT_KNOBS, EmulatorConfig, RateModel, parse_rate_limits
from blip_emulator.server import BlipEmulator

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the CLI."""
    parser = argparse.ArgumentParser(
        prog="blip-emulator",
        description="Serve an emulated Blip HTTP API (/commands, /messages, /notifications) on loopback.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (loopback only without --allow-remote)")
    add("--port", type=int, default=8080, help="port to bind; 0 picks a free one (default 8080)")
    add("--key", default="emulator-key", help="accepted bot key (Authorization: Key <key>)")
    add("--bot-id", default="emulatorbot", help="bot name; identity is <bot-id>@msging.net")
    add("--seed", type=int, default=0, help="seed of every random choice")
    add("--latency", type=float, default=0.0, help="seconds added before every answer")
    add("--latency-jitter", type=float, default=0.0, help="extra uniform random delay, seconds")
    add(
        "--rate-limit",
        help="per-channel requests/s, e.g. messages=50,commands=200,notifications=100; "
        "or 'free' / 'paid' (Blip plan limits) or 'off' (default; 'paid' with --strict)",
    )
    add(
        "--rate-model",
        choices=[model.value for model in RateModel],
        help="how a second is counted: sliding window of arrivals (default), fixed wall-clock "
        "second, or token bucket",
    )
    add(
        "--arrival-jitter",
        type=float,
        help="hold each request a uniform random 0..N s before it is counted and processed "
        "(default 0; 0.02 with --strict)",
    )
    add(
        "--lockout-seconds",
        type=float,
        help="after any request over a limit, answer 429 to the whole channel for N s "
        "(default 0 = off; 120 with --strict)",
    )
    add(
        "--strict",
        action="store_true",
        help="the strictest reading of Blip's docs: --rate-limit paid --rate-model sliding "
        "--arrival-jitter 0.02 --lockout-seconds 120 --enforce-templates (each can still be overridden)",
    )
    add("--error-rate", type=float, default=0.0, help="fraction answered 500/502/503/504, unprocessed")
    add("--drop-rate", type=float, default=0.0, help="fraction closed without answer, unprocessed")
    add("--drop-after-rate", type=float, default=0.0, help="fraction processed then closed without answer")
    add("--slow-rate", type=float, default=0.0, help="fraction answered only after --slow-seconds")
    add("--slow-seconds", type=float, default=30.0, help="delay of slow answers (default 30)")
    add("--read-ratio", type=float, default=1.0, help="fraction of delivered messages that get consumed")
    add(
        "--ninth-digit-ddd-min",
        default="31",
        help="lowest Brazilian area code with legacy (8-digit) WhatsApp accounts; 'none' disables",
    )
    add(
        "--templates",
        metavar="PATH",
        help="serve this JSON file (a list of templates in Meta's layout) as the approved-template "
        "registry instead of the example DAGs' templates",
    )
    add(
        "--enforce-templates",
        action="store_true",
        default=None,
        help="fail (accepted, then a failed notification) template messages that match no approved "
        "template (on with --strict)",
    )
    add("--record", metavar="PATH", help="append every received envelope to PATH as JSON lines")
    add("--contacts", type=int, default=0, metavar="N", help="seed N contacts")
    add("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    add("--no-uvloop", action="store_true", help="use the stock asyncio loop even if uvloop is installed")
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Build the settings from parsed arguments (raises ``ValueError`` on bad values)."""
    ddd_text = str(args.ninth_digit_ddd_min).strip().lower()
    knobs: dict[str, Any] = {
        "key": args.key,
        "bot_id": args.bot_id,
        "seed": args.seed,
        "latency": args.latency,
        "latency_jitter": args.latency_jitter,
        "error_rate": args.error_rate,
        "drop_rate": args.drop_rate,
        "drop_after_rate": args.drop_after_rate,
        "slow_rate": args.slow_rate,
        "slow_seconds": args.slow_seconds,
        "read_ratio": args.read_ratio,
        "ninth_digit_ddd_min": None if ddd_text in ("none", "off") else int(ddd_text),
        "record_path": args.record,
        **_limit_knobs(args),
    }
    if args.templates:
        knobs["templates"] = args.templates
    if args.enforce_templates:
        knobs["enforce_templates"] = True
    return EmulatorConfig(**knobs)


def _limit_knobs(args: argparse.Namespace) -> dict[str, Any]:
    # These options default to None, so that --strict fills only what was not given.
    knobs: dict[str, Any] = dict(STRICT_KNOBS) if args.strict else {}
    if args.rate_limit is not None:
        knobs["rate_limits"] = parse_rate_limits(args.rate_limit)
    for name in ("rate_model", "arrival_jitter", "lockout_seconds"):
        value = getattr(args, name)
        if value is not None:
            knobs[name] = value
    return knobs


def connection_line(emulator: BlipEmulator) -> str:
    """Return the ready-to-paste Airflow connection for this emulator."""
    connection = {"conn_type": "blip", "host": emulator.url, "password": emulator.key}
    return f"AIRFLOW_CONN_BLIP_DEFAULT='{json.dumps(connection)}'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        emulator = BlipEmulator(
            config, args.host, args.port, allow_remote=args.allow_remote, use_uvloop=not args.no_uvloop
        )
    except ValueError as error:
        parser.error(str(error))
    try:
        emulator.start()
    except OSError as error:
        print(f"blip-emulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    if args.contacts:
        emulator.add_contacts(args.contacts)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"Blip emulator listening on {emulator.url} (bot {emulator.bot_identity}, port {emulator.port})")
    print(connection_line(emulator), flush=True)
    # Short waits keep the main thread responsive to signals. Each wake also moves what the
    # server holds (records, messages) out of the garbage collector's reach: a full collection
    # over 100,000 records stalls the event loop for ~100 ms, and the requests it then reads
    # at once would look bunched to the rate limiter: a stall of the emulator, not of the
    # client or the network, must never count as the client's excess.
    while not stop.wait(0.5):
        gc.freeze()
    emulator.stop()
    print("Blip emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
