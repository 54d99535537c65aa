"""Records, JSONL, stats, configuration and the admin endpoints."""

from __future__ import annotations

import dataclasses
import json

import pytest
import requests
from blip_emulator import OUTCOMES, EmulatorConfig, Record

ACCOUNT = "5511988887777@wa.gw.msging.net"
PING = {"id": "p", "method": "get", "uri": "/ping"}


class TestRecords:
    def test_every_envelope_is_recorded_with_channel_and_outcome(self, blip, emu):
        blip.post("commands", PING)
        blip.send(ACCOUNT, id="m1")
        blip.post("notifications", {"id": "in", "to": ACCOUNT, "event": "consumed"})
        blip.command("get", "/nothing")
        records = emu.records()
        assert [r.channel for r in records] == ["commands", "messages", "notifications", "commands"]
        assert [r.outcome for r in records] == ["ok", "ok", "ok", "failure"]
        assert [r.status for r in records] == [200, 202, 202, 200]
        assert records[1].envelope == {"to": ACCOUNT, "type": "text/plain", "content": "hello", "id": "m1"}
        assert all(isinstance(r, Record) and r.received_at > 0 for r in records)
        assert [r.channel for r in emu.records("messages")] == ["messages"]

    def test_unknown_channel_is_an_error_not_an_empty_list(self, emu):
        with pytest.raises(ValueError, match="'message'"):
            emu.records("message")

    def test_records_are_frozen_snapshots(self, blip, emu):
        blip.post("commands", PING)
        snapshot = emu.records()
        blip.post("commands", PING)
        assert len(snapshot) == 1
        with pytest.raises(dataclasses.FrozenInstanceError):
            snapshot[0].status = 500

    def test_jsonl_mirror(self, blip, emu, tmp_path):
        path = tmp_path / "records.jsonl"
        emu.configure(record_path=str(path))
        blip.post("commands", PING)
        blip.send(ACCOUNT, id="m1")
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert [line["channel"] for line in lines] == ["commands", "messages"]
        assert lines[1]["envelope"]["id"] == "m1"
        assert set(lines[0]) == {"channel", "envelope", "status", "received_at", "outcome", "processed"}
        assert lines[0]["outcome"] in OUTCOMES

    def test_max_records_keeps_the_latest(self, blip, emu):
        emu.configure(max_records=3)
        for index in range(5):
            blip.post("commands", {**PING, "id": str(index)})
        assert [r.envelope["id"] for r in emu.records()] == ["2", "3", "4"]
        assert emu.stats()["requests"]["commands"] == 5

    def test_max_messages_forgets_the_oldest(self, blip, emu):
        emu.configure(max_messages=3)
        for index in range(5):
            blip.send(ACCOUNT, id=f"m{index}")
        assert [m["id"] for m in emu.messages()] == ["m2", "m3", "m4"]
        assert blip.notifications("m0") == []
        assert blip.notifications("m4") != []

    def test_stats(self, blip, emu):
        blip.post("commands", PING)
        blip.send(ACCOUNT)
        blip.session.get(f"{emu.url}/messages")
        stats = emu.stats()
        assert stats["requests"] == {"commands": 1, "messages": 2, "notifications": 0}
        assert stats["responses"] == {200: 1, 202: 1, 405: 1}
        assert (stats["refused"], stats["dropped"]) == (0, 0)
        assert stats["faults"] == {"error": 0, "drop": 0, "drop_after": 0, "slow": 0}

    def test_reset_clears_state_and_records_but_keeps_config(self, blip, emu):
        emu.configure(latency=0.01)
        blip.send(ACCOUNT, id="m1")
        emu.add_contacts(2)
        emu.reset()
        assert emu.records() == []
        assert emu.messages() == []
        assert emu.stats()["requests"]["messages"] == 0
        assert blip.command("get", "/contacts", to="postmaster@crm.msging.net")["resource"]["total"] == 0
        assert emu.config.latency == 0.01


class TestConfig:
    def test_unknown_knob_is_refused_by_name(self, emu):
        with pytest.raises(ValueError, match="'latencyy'"):
            emu.configure(latencyy=1)

    @pytest.mark.parametrize(
        ("knobs", "message"),
        [
            ({"error_rate": 1.5}, "error_rate must be between 0 and 1"),
            ({"error_rate": 0.6, "drop_rate": 0.6}, "must not exceed 1"),
            ({"latency": -1}, "latency must be a finite number"),
            ({"rate_limits": {"message": 5}}, "unknown channels"),
            ({"rate_limits": {"messages": 0}}, "must be a positive number"),
            ({"fault_channels": {"webhooks"}}, "unknown channels"),
            ({"delivery_delays": {"read": 1}}, "unknown events"),
            ({"ninth_digit_ddd_min": 5}, "area code"),
            ({"key": ""}, "key must not be empty"),
            ({"bot_id": "bot@msging.net"}, "bare name"),
        ],
    )
    def test_invalid_values_are_refused_and_config_unchanged(self, emu, knobs, message):
        before = emu.config
        with pytest.raises(ValueError, match=message):
            emu.configure(**knobs)
        assert emu.config == before

    def test_configure_returns_the_new_config(self, emu):
        config = emu.configure(latency=0.05, delivery_delays={"consumed": 1.0})
        assert config.latency == 0.05
        assert config.delivery_delays["consumed"] == 1.0
        assert config.delivery_delays["accepted"] == 0.0

    def test_key_and_bot_id_can_change(self, blip, emu):
        emu.configure(key="new-key", bot_id="otherbot")
        assert emu.key == "new-key"
        assert blip.post("commands", PING).status_code == 401
        blip.session.headers["Authorization"] = "Key new-key"
        assert blip.command("get", "/ping")["to"] == "otherbot@msging.net"

    def test_from_knobs_refuses_unknown_names(self):
        with pytest.raises(ValueError, match="'nope'"):
            EmulatorConfig.from_knobs(nope=1)


class TestAdmin:
    def test_admin_endpoints(self, blip, emu):
        blip.post("commands", PING)
        admin = f"{emu.url}/_emulator"
        assert requests.get(f"{admin}/health", timeout=5).json()["status"] == "ok"
        records = requests.get(f"{admin}/records?channel=commands", timeout=5).json()
        assert [r["envelope"]["id"] for r in records] == ["p"]
        assert requests.get(f"{admin}/records?channel=messages", timeout=5).json() == []
        stats = requests.get(f"{admin}/stats", timeout=5).json()
        assert stats["requests"]["commands"] == 1
        assert stats["responses"] == {"200": 1}
        config = requests.post(f"{admin}/config", json={"latency": 0.02}, timeout=5).json()
        assert config["latency"] == 0.02
        assert emu.config.latency == 0.02
        assert requests.get(f"{admin}/config", timeout=5).json()["latency"] == 0.02
        added = requests.post(f"{admin}/contacts", json={"n": 4}, timeout=5).json()
        assert added["added"] == 4
        explicit = requests.post(
            f"{admin}/contacts", json={"contacts": [{"identity": "a@0mn.io"}]}, timeout=5
        ).json()
        assert explicit["identities"] == ["a@0mn.io"]
        assert requests.post(f"{admin}/reset", timeout=5).json() == {"reset": True}
        assert emu.records() == []
        # Admin traffic is not counted.
        assert emu.stats()["requests"] == {"commands": 0, "messages": 0, "notifications": 0}

    def test_admin_errors(self, emu):
        admin = f"{emu.url}/_emulator"
        bad = requests.post(f"{admin}/config", json={"bogus": 1}, timeout=5)
        assert bad.status_code == 400
        assert "bogus" in bad.json()["error"]
        assert requests.post(f"{admin}/config", data="[", timeout=5).status_code == 400
        assert requests.post(f"{admin}/contacts", json={"n": "x"}, timeout=5).status_code == 400
        assert requests.get(f"{admin}/nothing", timeout=5).status_code == 404
        assert requests.delete(f"{admin}/stats", timeout=5).status_code == 405
