"""Distribution lists (docs/blip-api-facts.md §7)."""

from __future__ import annotations

BCAST = "postmaster@broadcast.msging.net"
LIST = "news@broadcast.msging.net"
LIST_ENC = "news%40broadcast.msging.net"
MEMBER = "5511988887777@wa.gw.msging.net"
MEMBER_ENC = "5511988887777%40wa.gw.msging.net"


def create(blip, identity: str = LIST) -> dict:
    return blip.command(
        "set",
        "/lists",
        to=BCAST,
        type="application/vnd.iris.distribution-list+json",
        resource={"identity": identity},
    )


def add(blip, member: str, list_enc: str = LIST_ENC) -> dict:
    return blip.command(
        "set",
        f"/lists/{list_enc}/recipients",
        to=BCAST,
        type="application/vnd.lime.identity",
        resource=member,
    )


class TestLists:
    def test_create_is_idempotent_and_listed(self, blip, emu):
        assert create(blip)["status"] == "success"
        add(blip, MEMBER)
        assert create(blip)["status"] == "success"
        assert emu.list_members(LIST) == [MEMBER]
        body = blip.command("get", "/lists", to=BCAST)
        assert body["resource"]["itemType"] == "application/vnd.lime.identity"
        assert LIST in body["resource"]["items"]

    def test_create_needs_an_identity(self, blip):
        assert blip.command("set", "/lists", to=BCAST, resource={})["reason"]["code"] == 64

    def test_add_to_missing_list_fails_with_101(self, blip):
        body = add(blip, MEMBER)
        assert (body["status"], body["reason"]["code"]) == ("failure", 101)

    def test_recipients_paging_keeps_insertion_order(self, blip):
        create(blip)
        members = [f"55119{i:08d}@wa.gw.msging.net" for i in range(7)]
        for member in members:
            add(blip, member)
        add(blip, members[0])  # already a member: still success, no duplicate
        pages = [
            blip.command("get", f"/lists/{LIST_ENC}/recipients?$skip={skip}&$take=3", to=BCAST)["resource"]
            for skip in (0, 3, 6)
        ]
        assert all(page["total"] == 7 for page in pages)
        assert [m for page in pages for m in page["items"]] == members

    def test_membership_check(self, blip):
        create(blip)
        add(blip, MEMBER)
        member = blip.command("get", f"/lists/{LIST_ENC}/recipients/{MEMBER_ENC}", to=BCAST)
        assert member["status"] == "success"
        other = blip.command(
            "get", f"/lists/{LIST_ENC}/recipients/5511000000000%40wa.gw.msging.net", to=BCAST
        )
        assert other["reason"]["code"] == 67

    def test_remove_member(self, blip, emu):
        create(blip)
        add(blip, MEMBER)
        assert (
            blip.command("delete", f"/lists/{LIST_ENC}/recipients/{MEMBER_ENC}", to=BCAST)["status"]
            == "success"
        )
        assert emu.list_members(LIST) == []
        again = blip.command("delete", f"/lists/{LIST_ENC}/recipients/{MEMBER_ENC}", to=BCAST)
        assert again["reason"]["code"] == 64
        missing = blip.command(
            "delete", f"/lists/ghost%40broadcast.msging.net/recipients/{MEMBER_ENC}", to=BCAST
        )
        assert missing["reason"]["code"] == 101

    def test_delete_list(self, blip, emu):
        create(blip)
        assert blip.command("delete", f"/lists/{LIST_ENC}", to=BCAST)["status"] == "success"
        assert emu.list_members(LIST) is None
        assert blip.command("delete", f"/lists/{LIST_ENC}", to=BCAST)["reason"]["code"] == 67

    def test_senders_list_needs_the_plus_encoded(self, blip, emu):
        emu.add_contacts(3)
        encoded = "emulatorbot%2Bsenders%40broadcast.msging.net"
        body = blip.command("get", f"/lists/{encoded}/recipients", to=BCAST)
        assert body["resource"]["total"] == 3
        raw = blip.command("get", "/lists/emulatorbot+senders@broadcast.msging.net/recipients", to=BCAST)
        assert raw["resource"]["total"] == 3
        # A '+' decoded as a space would name another (missing) list.
        spaced = blip.command(
            "get", "/lists/emulatorbot%20senders%40broadcast.msging.net/recipients", to=BCAST
        )
        assert spaced["reason"]["code"] == 67
        assert blip.command("delete", f"/lists/{encoded}", to=BCAST)["reason"]["code"] == 66

    def test_list_commands_need_the_broadcast_postmaster(self, blip):
        body = blip.command("set", "/lists", to="postmaster@msging.net", resource={"identity": LIST})
        assert body["reason"]["code"] == 62
        assert BCAST in body["reason"]["description"]

    def test_list_name_without_domain(self, blip, emu):
        create(blip, "plain")
        assert emu.list_members("plain@broadcast.msging.net") == []
        assert add(blip, MEMBER, "plain")["status"] == "success"
