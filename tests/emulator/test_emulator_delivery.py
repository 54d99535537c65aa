"""Message delivery and ``get /notifications`` (docs/blip-api-facts.md §4, §7, §8)."""

from __future__ import annotations

import time

from blip_emulator.config import DEFAULT_DELIVERY_DELAYS

ACCOUNT = "5511988887777@wa.gw.msging.net"
TEMPLATE = {
    "type": "template",
    "template": {
        "name": "order_update",
        "language": {"code": "pt_BR", "policy": "deterministic"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}],
    },
}


def finished(items):
    return {"consumed", "failed"} & {item["event"] for item in items}


class TestDirectDelivery:
    def test_events_progress_over_time_and_come_from_several_hops(self, blip, emu):
        emu.configure(delivery_delays={"dispatched": 0.3, "received": 0.45, "consumed": 0.6})
        assert blip.send(ACCOUNT, id="m1").status_code == 202
        early = blip.notifications("m1")
        assert blip.events(early) == ["accepted", "accepted"]
        assert {item["from"] for item in early} == {
            "postmaster@msging.net/#emulator",
            "postmaster@wa.gw.msging.net/#emulator",
        }
        items = blip.wait_for("m1", finished)
        assert blip.events(items) == ["accepted", "accepted", "dispatched", "received", "consumed"]
        assert items[-1]["from"] == ACCOUNT
        first = items[0]
        assert first["id"] == "m1"
        assert first["to"] == emu.bot_identity
        assert first["metadata"]["#message.to"] == ACCOUNT
        assert first["metadata"]["#envelope.timestamp"].isdigit()
        assert first["metadata"]["#envelope.storageDate"].endswith("Z")
        stamps = [int(item["metadata"]["#envelope.timestamp"]) for item in items]
        assert stamps == sorted(stamps)

    def test_template_message_is_delivered(self, blip):
        assert blip.send(ACCOUNT, TEMPLATE, type="application/json", id="t1").status_code == 202
        assert "consumed" in blip.events(blip.wait_for("t1", finished))

    def test_collection_shape(self, blip):
        blip.send(ACCOUNT, id="m2")
        body = blip.command("get", "/notifications?id=m2")
        assert body["type"] == "application/vnd.lime.collection+json"
        assert body["resource"]["itemType"] == "application/vnd.lime.notification+json"
        assert body["resource"]["total"] == len(body["resource"]["items"])

    def test_unknown_id_is_an_empty_collection(self, blip):
        body = blip.command("get", "/notifications?id=never-sent")
        assert body["status"] == "success"
        assert body["resource"]["total"] == 0
        assert body["resource"]["items"] == []

    def test_message_without_id_is_stored_but_has_no_notifications(self, blip, emu):
        assert blip.send(ACCOUNT).status_code == 202
        assert [m["id"] for m in emu.messages()] == [None]

    def test_repeated_ids_are_stored_and_recorded_twice(self, blip, emu):
        blip.send(ACCOUNT, id="dup")
        blip.send(ACCOUNT, id="dup")
        assert len(emu.records("messages")) == 2
        assert len(emu.messages()) == 2
        items = blip.wait_for("dup", lambda items: blip.events(items).count("consumed") == 2)
        assert blip.events(items).count("consumed") == 2

    def test_default_delays_are_small(self):
        assert DEFAULT_DELIVERY_DELAYS == {
            "accepted": 0.0,
            "dispatched": 0.05,
            "received": 0.2,
            "consumed": 0.5,
        }


class TestFailedDelivery:
    def test_sending_to_the_phone_of_a_legacy_account_fails_with_42(self, blip):
        account = blip.command(
            "get", "lime://wa.gw.msging.net/accounts/%2B5531988887777", to="postmaster@wa.gw.msging.net"
        )
        assert account["resource"]["alternativeAccount"] == "553188887777@wa.gw.msging.net"
        blip.send("5531988887777@wa.gw.msging.net", id="wrong")
        blip.send(account["resource"]["alternativeAccount"], id="right")
        wrong = blip.wait_for("wrong", finished)
        assert blip.events(wrong) == ["accepted", "accepted", "failed"]
        assert wrong[-1]["reason"] == {"code": 42, "description": "Destination not found"}
        assert wrong[-1]["from"] == "postmaster@wa.gw.msging.net/#emulator"
        assert blip.events(blip.wait_for("right", finished))[-1] == "consumed"

    def test_failing_numbers_fail_with_their_reason(self, blip, emu):
        emu.configure(failing_numbers={"+5511977776666": (81, "Gateway error")})
        lookup = blip.command(
            "get", "lime://wa.gw.msging.net/accounts/%2B5511977776666", to="postmaster@wa.gw.msging.net"
        )
        assert lookup["status"] == "success"
        blip.send("5511977776666@wa.gw.msging.net", id="f1")
        items = blip.wait_for("f1", finished)
        assert items[-1]["event"] == "failed"
        assert items[-1]["reason"] == {"code": 81, "description": "Gateway error"}

    def test_unregistered_numbers_fail_with_42(self, blip, emu):
        emu.configure(unregistered_numbers=["+5511966665555"])
        blip.send("5511966665555@wa.gw.msging.net", id="u1")
        assert blip.wait_for("u1", finished)[-1]["reason"]["code"] == 42

    def test_template_without_name_or_language_fails_with_61(self, blip):
        no_name = {"type": "template", "template": {"language": {"code": "pt_BR"}}}
        no_language = {"type": "template", "template": {"name": "x"}}
        blip.send(ACCOUNT, no_name, type="application/json", id="bad1")
        blip.send(ACCOUNT, no_language, type="application/json", id="bad2")
        for message_id, missing in (("bad1", "template.name"), ("bad2", "template.language.code")):
            items = blip.wait_for(message_id, finished)
            assert blip.events(items) == ["accepted", "failed"]
            assert items[-1]["reason"]["code"] == 61
            assert missing in items[-1]["reason"]["description"]

    def test_identity_without_domain_fails(self, blip):
        blip.send("nobody", id="n1")
        assert blip.wait_for("n1", finished)[-1]["reason"]["code"] == 42

    def test_other_channels_are_delivered(self, blip):
        blip.send("someone@0mn.io", id="c1")
        items = blip.wait_for("c1", finished)
        assert "postmaster@0mn.io/#emulator" in {item["from"] for item in items}
        assert items[-1]["event"] == "consumed"


class TestReadRatio:
    def test_split_is_seeded_per_message(self, blip, emu):
        emu.configure(read_ratio=0.5, seed=3)
        ids = [f"r{i}" for i in range(30)]
        for message_id in ids:
            blip.send(ACCOUNT, id=message_id)
        time.sleep(0.2)
        final = {m: blip.events(blip.notifications(m))[-1] for m in ids}
        assert set(final.values()) == {"received", "consumed"}
        emu.reset()
        for message_id in ids:
            blip.send(ACCOUNT, id=message_id)
        time.sleep(0.2)
        assert {m: blip.events(blip.notifications(m))[-1] for m in ids} == final


class TestUnfilteredNotifications:
    def test_returns_the_latest_with_take_at_most_100(self, blip, emu):
        emu.configure(delivery_delays={"dispatched": 0, "received": 0, "consumed": 0})
        for index in range(25):
            blip.send(ACCOUNT, id=f"u{index}")
        body = blip.command("get", "/notifications?$take=100")
        items = body["resource"]["items"]
        assert len(items) == 100
        stamps = [int(item["metadata"]["#envelope.timestamp"]) for item in items]
        assert stamps == sorted(stamps, reverse=True)
        assert items[0]["id"] == "u24"
        page = blip.command("get", "/notifications?$skip=95&$take=10")["resource"]["items"]
        assert len(page) == 5
        too_many = blip.command("get", "/notifications?$take=101")
        assert too_many["reason"]["code"] == 64


class TestListDelivery:
    def test_fan_out_with_list_and_member_notifications(self, blip, emu):
        bcast = "postmaster@broadcast.msging.net"
        blip.command(
            "set",
            "/lists",
            to=bcast,
            type="application/vnd.iris.distribution-list+json",
            resource={"identity": "news@broadcast.msging.net"},
        )
        for member in (ACCOUNT, "5531988887777@wa.gw.msging.net"):
            blip.command(
                "set",
                "/lists/news%40broadcast.msging.net/recipients",
                to=bcast,
                type="application/vnd.lime.identity",
                resource=member,
            )
        assert (
            blip.send("news@broadcast.msging.net", TEMPLATE, type="application/json", id="b1").status_code
            == 202
        )
        time.sleep(0.2)
        items = blip.notifications("b1")
        senders = {item["from"] for item in items}
        assert "postmaster@broadcast.msging.net/#emulator" in senders
        good = "news@broadcast.msging.net/5511988887777%40wa.gw.msging.net"
        bad = "news@broadcast.msging.net/5531988887777%40wa.gw.msging.net"
        assert [i["event"] for i in items if i["from"] == good][-1] == "consumed"
        failed = [i for i in items if i["from"] == bad][-1]
        assert (failed["event"], failed["reason"]["code"]) == ("failed", 42)
        stats = blip.command("get", "/lists/news%40broadcast.msging.net/messages/b1", to=bcast)
        assert stats["type"] == "application/vnd.iris.distribution-list-message+json"
        resource = stats["resource"]
        assert {
            k: resource[k] for k in ("status", "recipients", "sent", "received", "consumed", "failed")
        } == {
            "status": "processed",
            "recipients": 2,
            "sent": 1,
            "received": 1,
            "consumed": 1,
            "failed": 1,
        }

    def test_sending_to_a_missing_list_fails(self, blip):
        blip.send("ghost@broadcast.msging.net", id="g1")
        items = blip.wait_for("g1", finished)
        assert (items[-1]["event"], items[-1]["reason"]["code"]) == ("failed", 42)
