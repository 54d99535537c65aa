"""Contacts paging, filters and writes (docs/blip-api-facts.md §6)."""

from __future__ import annotations

import pytest
from blip_emulator.odata import ODataError, compile_filter

CRM = "postmaster@crm.msging.net"


def contacts(blip, query: str = "", to: str | None = CRM) -> dict:
    return blip.command("get", f"/contacts{query}", to=to)


class TestPaging:
    def test_unfiltered_pages_in_stable_order_with_total(self, blip, emu):
        identities = emu.add_contacts(250)
        seen = []
        for skip in range(0, 300, 100):
            body = contacts(blip, f"?$skip={skip}&$take=100")
            assert body["resource"]["total"] == 250
            assert body["resource"]["itemType"] == "application/vnd.lime.contact+json"
            seen += [c["identity"] for c in body["resource"]["items"]]
        assert seen == identities
        assert len(set(seen)) == 250

    def test_repeated_seeding_adds_new_contacts(self, blip, emu):
        first = emu.add_contacts(3, source="WhatsApp")
        second = emu.add_contacts(2, source="BlipChat")
        assert not set(first) & set(second)
        assert contacts(blip)["resource"]["total"] == 5
        assert emu.add_contacts(1, start=0) == first[:1]  # an explicit start may overwrite
        assert contacts(blip, "?$filter=(source%20eq%20'BlipChat')")["resource"]["total"] == 2

    def test_default_take_is_100(self, blip, emu):
        emu.add_contacts(120)
        assert len(contacts(blip)["resource"]["items"]) == 100

    @pytest.mark.parametrize("take", [0, 30_001])
    def test_unfiltered_take_must_be_1_to_30000(self, blip, emu, take):
        body = contacts(blip, f"?$take={take}")
        assert (body["status"], body["reason"]["code"]) == ("failure", 64)
        assert "30000" in body["reason"]["description"]

    def test_unfiltered_take_of_30000_is_allowed(self, blip, emu):
        emu.add_contacts(3)
        assert contacts(blip, "?$take=30000")["resource"]["total"] == 3

    def test_filtered_window_is_limited_to_10000(self, blip, emu):
        ok = contacts(blip, "?$skip=9900&$take=100&$filter=(substringof('WhatsApp'%2Csource))")
        assert ok["status"] == "success"
        body = contacts(blip, "?$skip=9901&$take=100&$filter=(substringof('WhatsApp'%2Csource))")
        assert body["reason"]["code"] == 64
        assert "10000" in body["reason"]["description"]

    def test_non_numeric_paging_fails_with_64(self, blip):
        assert contacts(blip, "?$skip=abc")["reason"]["code"] == 64

    def test_default_postmaster_also_serves_contacts(self, blip, emu):
        emu.add_contacts(2)
        assert contacts(blip, to=None)["resource"]["total"] == 2


class TestFilters:
    @pytest.fixture(autouse=True)
    def _seed(self, emu):
        emu.add_contacts(10)
        emu.add_contacts([{"identity": "web-1@0mn.io", "name": "John Doe", "source": "BlipChat"}])

    @pytest.mark.parametrize(
        ("expression", "count"),
        [
            ("(substringof('WhatsApp'%2Csource))", 10),
            ("(substringof('whatsapp'%2Csource))", 10),
            ("(startswith(name%2C'John'))", 1),
            ("(name%20eq%20'John Doe')", 1),
            ("(name%20eq%20'John%20Doe')", 1),
            ("(source%20ne%20'WhatsApp')", 1),
            ("(lastmessagedate%20ge%20datetimeoffset'2024-01-01T00%3A05%3A00.000Z')", 5),
            (
                "(lastmessagedate%20ge%20datetimeoffset'2024-01-01T00%3A02%3A00.000Z')"
                "%20and%20(lastmessagedate%20le%20datetimeoffset'2024-01-01T00%3A04%3A00.000Z')",
                3,
            ),
            ("(startswith(name%2C'John'))%20or%20(name%20eq%20'Contact 3')", 2),
            ("not%20(substringof('WhatsApp'%2Csource))", 1),
            ("(extras%2Findex%20eq%20'7')", 1),
        ],
    )
    def test_filter(self, blip, expression, count):
        body = contacts(blip, f"?$filter={expression}")
        assert body["status"] == "success", body
        assert body["resource"]["total"] == count
        assert len(body["resource"]["items"]) == count

    def test_filter_with_paging(self, blip):
        body = contacts(blip, "?$skip=8&$take=5&$filter=(substringof('WhatsApp'%2Csource))")
        assert body["resource"]["total"] == 10
        assert [c["name"] for c in body["resource"]["items"]] == ["Contact 8", "Contact 9"]

    def test_bad_filter_fails_with_64(self, blip):
        body = contacts(blip, "?$filter=(name%20eq)")
        assert body["reason"]["code"] == 64
        assert "$filter" in body["reason"]["description"]


class TestWrites:
    def test_set_get_merge_delete(self, blip):
        identity = "5511900000001@wa.gw.msging.net"
        contact = {"identity": identity, "name": "Ana", "email": "ana@example.com"}
        assert (
            blip.command(
                "set", "/contacts", to=CRM, type="application/vnd.lime.contact+json", resource=contact
            )["status"]
            == "success"
        )
        got = blip.command("get", "/contacts/5511900000001%40wa.gw.msging.net", to=CRM)
        assert got["type"] == "application/vnd.lime.contact+json"
        assert got["resource"] == contact
        blip.command(
            "merge",
            "/contacts",
            to=CRM,
            type="application/vnd.lime.contact+json",
            resource={"identity": identity, "city": "BH"},
        )
        merged = blip.command("get", f"/contacts/{identity}", to=CRM)["resource"]
        assert (merged["email"], merged["city"]) == ("ana@example.com", "BH")
        # set replaces the whole contact: omitted fields are lost (DOCS warning).
        blip.command(
            "set",
            "/contacts",
            to=CRM,
            type="application/vnd.lime.contact+json",
            resource={"identity": identity, "name": "Ana"},
        )
        assert "email" not in blip.command("get", f"/contacts/{identity}", to=CRM)["resource"]
        assert blip.command("delete", f"/contacts/{identity}", to=CRM)["status"] == "success"
        assert blip.command("get", f"/contacts/{identity}", to=CRM)["reason"]["code"] == 67
        assert blip.command("delete", f"/contacts/{identity}", to=CRM)["reason"]["code"] == 67

    def test_set_without_identity_fails_with_64(self, blip):
        assert blip.command("set", "/contacts", to=CRM, resource={"name": "x"})["reason"]["code"] == 64


class TestODataParser:
    ROW = {
        "name": "John Doe",
        "source": "WhatsApp",
        "lastMessageDate": "2024-01-01T00:05:00.000Z",
        "extras": {"a": "1"},
    }

    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("substringof('ohn', name)", True),
            ("startswith(name, 'jo')", True),
            ("endswith(name, 'Doe')", True),
            ("name eq 'john doe'", True),
            ("name ne 'John Doe'", False),
            ("missing eq null", True),
            ("extras/a eq '1'", True),
            ("lastmessagedate gt datetimeoffset'2024-01-01T00:04:59Z'", True),
            ("lastmessagedate lt datetimeoffset'2024-01-01T00:04:59Z'", False),
            ("(name eq 'x' or source eq 'WhatsApp') and not (name eq 'y')", True),
            ("substringof('it''s', name)", False),
            ("substringof('ohn', name) eq true", True),
        ],
    )
    def test_expressions(self, expression, expected):
        assert compile_filter(expression)(self.ROW) is expected

    @pytest.mark.parametrize(
        "expression", ["name eq", "(name eq 'x'", "name eq 'x')", "foo(name, 'x')", "name ~ 'x'", "and"]
    )
    def test_malformed(self, expression):
        with pytest.raises(ODataError):
            compile_filter(expression)(self.ROW)
