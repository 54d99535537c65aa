"""Context variables and flow state (docs/blip-api-facts.md §5)."""

from __future__ import annotations

import pytest

USER = "5511988887777%40wa.gw.msging.net"
USER_RAW = "5511988887777@wa.gw.msging.net"


def set_var(blip, name: str, value, mime: str = "text/plain", suffix: str = "") -> dict:
    return blip.command(
        "set", f"/contexts/{USER}/{name}{suffix}", to="postmaster@msging.net", type=mime, resource=value
    )


class TestContexts:
    def test_set_then_get_keeps_value_and_type(self, blip):
        assert set_var(blip, "stateid%40flow-1", "block-42")["status"] == "success"
        body = blip.command("get", f"/contexts/{USER}/stateid%40flow-1")
        assert (body["status"], body["type"], body["resource"]) == ("success", "text/plain", "block-42")
        set_var(blip, "profile", {"plan": "gold"}, mime="application/json")
        profile = blip.command("get", f"/contexts/{USER}/profile")
        assert (profile["type"], profile["resource"]) == ("application/json", {"plan": "gold"})

    def test_names_are_stored_lowercase(self, blip, emu):
        set_var(blip, "Master-State", "router-sub@msging.net")
        assert emu.contexts(USER_RAW) == {"master-state": "router-sub@msging.net"}
        assert blip.command("get", f"/contexts/{USER}/MASTER-STATE")["resource"] == "router-sub@msging.net"

    def test_raw_and_encoded_identity_are_the_same_user(self, blip):
        set_var(blip, "x", "1")
        assert blip.command("get", f"/contexts/{USER_RAW}/x")["resource"] == "1"

    @pytest.mark.parametrize("method", ["get", "delete"])
    def test_missing_variable_fails_with_67(self, blip, method):
        body = blip.command(method, f"/contexts/{USER}/nothing")
        assert (body["status"], body["reason"]["code"]) == ("failure", 67)

    def test_delete_removes_the_variable(self, blip):
        set_var(blip, "stateid%40flow-1", "block-1")
        assert blip.command("delete", f"/contexts/{USER}/stateid%40flow-1")["status"] == "success"
        assert blip.command("get", f"/contexts/{USER}/stateid%40flow-1")["reason"]["code"] == 67

    def test_expiration_query_is_accepted(self, blip, emu):
        assert set_var(blip, "temp", "v", suffix="?expiration=60000")["status"] == "success"
        assert emu.contexts(USER_RAW) == {"temp": "v"}

    def test_set_needs_a_resource(self, blip):
        body = blip.command("set", f"/contexts/{USER}/x", type="text/plain")
        assert body["reason"]["code"] == 64

    def test_list_names_and_values(self, blip):
        set_var(blip, "master-state", "sub@msging.net")
        set_var(blip, "stateid%40flow", "start")
        names = blip.command("get", f"/contexts/{USER}")
        assert names["resource"]["itemType"] == "text/plain"
        assert names["resource"]["items"] == ["master-state", "stateid@flow"]
        values = blip.command("get", f"/contexts/{USER}?withContextValues=true")["resource"]["items"]
        assert values == [
            {"name": "master-state", "type": "text/plain", "value": "sub@msging.net"},
            {"name": "stateid@flow", "type": "text/plain", "value": "start"},
        ]
        assert blip.command("get", "/contexts")["resource"]["items"] == [USER_RAW.lower()]

    def test_write_order_is_visible_in_records(self, blip, emu):
        # Routers need master-state set before stateid@flow (HELPWEB 37613972353687).
        set_var(blip, "master-state", "sub@msging.net")
        set_var(blip, "stateid%40flow", "start")
        uris = [r.envelope["uri"] for r in emu.records("commands") if r.envelope["method"] == "set"]
        assert uris == [f"/contexts/{USER}/master-state", f"/contexts/{USER}/stateid%40flow"]

    def test_contexts_live_on_the_default_postmaster_only(self, blip):
        body = blip.command("get", f"/contexts/{USER}/x", to="postmaster@crm.msging.net")
        assert body["reason"]["code"] == 62
