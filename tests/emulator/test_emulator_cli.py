"""The command line and the pytest plugin."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from blip_emulator import BlipEmulator
from blip_emulator.__main__ import build_parser, config_from_args
from blip_emulator.config import PLAN_RATE_LIMITS, parse_rate_limits

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli():
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        command = [sys.executable, "-m", "blip_emulator", *args]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
        )
        processes.append(process)
        lines = [process.stdout.readline(), process.stdout.readline()]
        return process, lines

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


class TestCli:
    def test_starts_prints_url_and_connection_and_stops_on_sigint(self, cli, tmp_path):
        record = tmp_path / "r.jsonl"
        process, lines = cli("--port", "0", "--key", "cli-key", "--contacts", "3", "--record", str(record))
        match = re.search(r"http://127\.0\.0\.1:(\d+)", lines[0])
        assert match, lines
        url = match.group(0)
        assert int(match.group(1)) > 0
        name, _, value = lines[1].strip().partition("=")
        assert name == "AIRFLOW_CONN_BLIP_DEFAULT"
        assert json.loads(value.strip("'")) == {"conn_type": "blip", "host": url, "password": "cli-key"}
        headers = {"Authorization": "Key cli-key"}
        ping = requests.post(
            f"{url}/commands", json={"id": "1", "method": "get", "uri": "/ping"}, headers=headers, timeout=5
        )
        assert ping.json()["status"] == "success"
        contacts = requests.post(
            f"{url}/commands",
            json={"id": "2", "method": "get", "uri": "/contacts"},
            headers=headers,
            timeout=5,
        )
        assert contacts.json()["resource"]["total"] == 3
        assert len(record.read_text().splitlines()) == 2
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0

    def test_sigterm_stops_it(self, cli):
        process, lines = cli("--port", "0")
        assert "listening on" in lines[0]
        process.terminate()
        assert process.wait(timeout=10) == 0

    def test_refuses_remote_host_without_flag(self, cli):
        process, _ = cli("--host", "0.0.0.0", "--port", "0")
        assert process.wait(timeout=10) == 2
        assert "allow_remote" in process.stderr.read()

    def test_busy_port_exits_1(self, cli, emu):
        process, _ = cli("--port", str(emu.port))
        assert process.wait(timeout=10) == 1


class TestArguments:
    def test_all_knobs_reach_the_config(self):
        argv = (
            "--latency 0.1 --seed 4 --rate-limit messages=50,commands=200,notifications=100 "
            "--error-rate 0.1 --drop-rate 0.05 --drop-after-rate 0.05 --slow-rate 0.01 "
            "--slow-seconds 5 --read-ratio 0.5 --ninth-digit-ddd-min none --bot-id b"
        )
        args = build_parser().parse_args(argv.split())
        config = config_from_args(args)
        assert config.rate_limits == {"messages": 50, "commands": 200, "notifications": 100}
        assert (config.latency, config.seed, config.error_rate, config.drop_rate) == (0.1, 4, 0.1, 0.05)
        assert (config.drop_after_rate, config.slow_rate, config.slow_seconds) == (0.05, 0.01, 5)
        assert (config.read_ratio, config.ninth_digit_ddd_min, config.bot_id) == (0.5, None, "b")

    def test_rate_limit_presets(self):
        assert parse_rate_limits("paid") == PLAN_RATE_LIMITS["paid"]
        assert parse_rate_limits("off") is None
        with pytest.raises(ValueError, match="CHANNEL=RATE"):
            parse_rate_limits("messages")


class TestPytestPlugin:
    def test_blip_emulator_fixture_is_running(self, blip_emulator):
        assert isinstance(blip_emulator, BlipEmulator)
        response = requests.post(
            f"{blip_emulator.url}/commands",
            json={"id": "1", "method": "get", "uri": "/ping"},
            headers={"Authorization": f"Key {blip_emulator.key}"},
            timeout=5,
        )
        assert response.status_code == 200

    def test_factory_takes_knobs(self, blip_emulator_factory):
        emu = blip_emulator_factory(key="k", rate_limits={"messages": 1})
        assert emu.key == "k"
        assert emu.config.rate_limits == {"messages": 1.0}

    def test_factory_refuses_unknown_knobs(self, blip_emulator_factory):
        with pytest.raises(ValueError, match="'latency_ms'"):
            blip_emulator_factory(latency_ms=5)
