"""Ping, WhatsApp account lookup (docs/blip-api-facts.md §3), the ninth-digit rule and command routing."""

from __future__ import annotations

import pytest
from blip_emulator import whatsapp_account

WA_POSTMASTER = "postmaster@wa.gw.msging.net"


def lookup(blip, number: str, to: str = WA_POSTMASTER) -> dict:
    return blip.command("get", f"lime://wa.gw.msging.net/accounts/{number}", to=to)


class TestPing:
    @pytest.mark.parametrize("to", [None, "postmaster@msging.net", "postmaster@msging.net/instance"])
    def test_ping(self, blip, emu, to):
        body = blip.command("get", "/ping", to=to)
        assert body["status"] == "success"
        assert body["type"] == "application/vnd.lime.ping+json"
        assert body["resource"] == {}
        assert body["from"] == "postmaster@msging.net/#emulator"
        assert body["to"] == emu.bot_identity == "emulatorbot@msging.net"
        assert body["metadata"]["#command.uri"] == "lime://emulatorbot@msging.net/ping"


class TestLookup:
    @pytest.mark.parametrize("number", ["%2B5511988887777", "+5511988887777"])
    def test_lookup_with_plus_returns_the_account(self, blip, number):
        body = lookup(blip, number)
        assert body["status"] == "success"
        assert body["type"] == "application/vnd.lime.account+json"
        assert body["from"] == "postmaster@wa.gw.msging.net/#emulator"
        resource = body["resource"]
        assert resource["alternativeAccount"] == "5511988887777@wa.gw.msging.net"
        assert resource["identity"] == resource["alternativeAccount"]
        assert resource["phoneNumber"] == "+5511988887777"
        assert resource["source"] == "WhatsApp"
        assert resource["fullName"]

    def test_ninth_digit_is_dropped_for_area_codes_from_31(self, blip):
        resource = lookup(blip, "%2B5531988887777")["resource"]
        # The legacy account has no ninth digit: it differs from the phone number.
        assert resource["alternativeAccount"] == "553188887777@wa.gw.msging.net"
        assert resource["phoneNumber"] == "+5531988887777"

    def test_ninth_digit_threshold_is_a_knob(self, blip, emu):
        emu.configure(ninth_digit_ddd_min=None)
        assert lookup(blip, "%2B5531988887777")["resource"]["alternativeAccount"].startswith("5531988887777@")
        emu.configure(ninth_digit_ddd_min=11)
        assert lookup(blip, "%2B5511988887777")["resource"]["alternativeAccount"].startswith("551188887777@")

    @pytest.mark.parametrize(
        ("digits", "account"),
        [
            ("5531988887777", "553188887777"),  # mobile, DDD 31: legacy account
            ("5511988887777", "5511988887777"),  # DDD 11 < 31: unchanged
            ("553188887777", "553188887777"),  # already 12 digits
            ("5531888877777", "5531888877777"),  # 13 digits but no 9 after the DDD
            ("14155550100", "14155550100"),  # not Brazil
        ],
    )
    def test_whatsapp_account_rule(self, digits, account):
        assert whatsapp_account(digits, 31) == account

    def test_lookup_without_plus_succeeds_with_the_raw_digits(self, blip):
        # DOCS: without '+' every lookup "succeeds"; for a legacy number that identity is wrong.
        body = lookup(blip, "5531988887777")
        assert body["status"] == "success"
        assert body["resource"]["alternativeAccount"] == "5531988887777@wa.gw.msging.net"
        assert lookup(blip, "not-a-number")["status"] == "success"

    def test_unregistered_number_fails_with_67(self, blip, emu):
        emu.configure(unregistered_numbers={"+5511911112222"})
        body = lookup(blip, "%2B5511911112222")
        assert body["status"] == "failure"
        assert body["reason"]["code"] == 67
        assert "type" not in body
        assert "resource" not in body

    def test_plus_without_digits_fails_with_64(self, blip):
        assert lookup(blip, "%2Babc")["reason"]["code"] == 64

    def test_successful_lookup_adds_the_contact_once(self, blip):
        lookup(blip, "%2B5511988887777")
        contact = blip.command(
            "get", "/contacts/5511988887777%40wa.gw.msging.net", to="postmaster@crm.msging.net"
        )
        assert contact["status"] == "success"
        assert contact["resource"]["source"] == "WhatsApp"
        blip.command(
            "merge",
            "/contacts",
            to="postmaster@crm.msging.net",
            type="application/vnd.lime.contact+json",
            resource={"identity": "5511988887777@wa.gw.msging.net", "name": "Renamed"},
        )
        lookup(blip, "%2B5511988887777")
        again = blip.command("get", "/contacts/5511988887777%40wa.gw.msging.net")
        assert again["resource"]["name"] == "Renamed"

    def test_lookup_must_go_to_the_whatsapp_postmaster(self, blip):
        body = lookup(blip, "%2B5511988887777", to="postmaster@msging.net")
        assert body["status"] == "failure"
        assert body["reason"]["code"] == 62
        assert WA_POSTMASTER in body["reason"]["description"]

    def test_lookup_only_supports_get(self, blip):
        body = blip.command("set", "lime://wa.gw.msging.net/accounts/%2B5511988887777", to=WA_POSTMASTER)
        assert body["reason"]["code"] == 63


class TestUnknownCommands:
    def test_unknown_resource_fails_with_62(self, blip):
        body = blip.command("get", "/threads/someone%40wa.gw.msging.net")
        assert (body["status"], body["reason"]["code"]) == ("failure", 62)

    def test_unknown_postmaster_fails_with_62(self, blip):
        body = blip.command("get", "/event-track", to="postmaster@analytics.msging.net")
        assert body["reason"]["code"] == 62

    def test_command_to_a_user_is_not_emulated(self, blip):
        assert blip.command("get", "/ping", to="someone@0mn.io")["reason"]["code"] == 62

    def test_unsupported_method_fails_with_63(self, blip):
        assert blip.command("delete", "/ping")["reason"]["code"] == 63

    def test_failed_command_is_still_http_200_and_recorded_as_failure(self, blip, emu):
        blip.command("get", "/nothing-here")
        [record] = emu.records("commands")
        assert (record.status, record.outcome) == (200, "failure")
