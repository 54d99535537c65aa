"""The approved-template registry (docs/blip-api-facts.md §13.3) and the check of template sends."""

from __future__ import annotations

import json

import pytest
import requests
from blip_emulator import EmulatorConfig
from blip_emulator.__main__ import build_parser, config_from_args
from blip_emulator.templates import SEED_TEMPLATES

from tests.emulator.conftest import FAST_DELAYS

WA_POSTMASTER = "postmaster@wa.gw.msging.net"
TO = "5511988887777@wa.gw.msging.net"


def registry(blip, uri: str = "/message-templates") -> dict:
    return blip.command("get", uri, to=WA_POSTMASTER)


def template_message(name: str, params: list[str], language: str = "pt_BR", **extra) -> dict:
    body = {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
    components = [*extra.pop("before", []), body, *extra.pop("after", [])]
    template = {
        "name": name,
        "language": {"code": language, "policy": "deterministic"},
        "components": components,
    }
    return {"type": "template", "template": template}


def send_and_wait(blip, message_id: str, content: dict) -> list[dict]:
    response = blip.send(TO, content, type="application/json", id=message_id)
    assert response.status_code == 202, "Blip takes the message first"
    items = blip.wait_for(message_id, lambda items: {"failed", "received"} & set(blip.events(items)))
    return items


@pytest.fixture
def strict_blip(blip_emulator_factory):
    from tests.emulator.conftest import BlipClient

    return BlipClient(blip_emulator_factory(delivery_delays=FAST_DELAYS, enforce_templates=True))


class TestServingTheRegistry:
    def test_seed_is_served_in_graph_layout_without_enriched_fields(self, blip):
        body = registry(blip)
        assert body["status"] == "success"
        assert body["type"] == "application/json"
        data = body["resource"]["data"]
        assert [t["name"] for t in data] == [t["name"] for t in SEED_TEMPLATES]
        update = data[0]
        assert update["status"] == "APPROVED"
        assert update["components"] == [
            {"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} saiu para entrega."}
        ]
        assert "previous_category" not in update

    def test_enriched_adds_previous_category_and_filters_by_name(self, blip):
        body = registry(blip, "/message-templates-enriched?templateName=payment_reminder")
        (item,) = body["resource"]["data"]
        assert (item["category"], item["previous_category"]) == ("MARKETING", "UTILITY")

    def test_pages_with_skip_and_take_up_to_200(self, blip):
        page = registry(blip, "/message-templates?$skip=1&$take=2")["resource"]["data"]
        assert [t["name"] for t in page] == ["order_ready", "pipeline_failed"]
        refused = registry(blip, "/message-templates?$take=201")
        assert refused["status"] == "failure"
        assert refused["reason"]["code"] == 64

    def test_only_the_whatsapp_postmaster_serves_it(self, blip):
        body = blip.command("get", "/message-templates", to="postmaster@msging.net")
        assert body["status"] == "failure"
        assert body["reason"]["code"] == 62

    def test_loaded_from_a_json_file_by_knob_and_cli(self, tmp_path, blip_emulator_factory):
        path = tmp_path / "templates.json"
        mine = {"name": "mine", "language": "en_US", "status": "APPROVED", "components": []}
        path.write_text(json.dumps({"data": [mine]}))
        assert EmulatorConfig(templates=str(path)).templates == (mine,)
        args = build_parser().parse_args(["--templates", str(path), "--enforce-templates"])
        config = config_from_args(args)
        assert (config.templates, config.enforce_templates) == ((mine,), True)
        assert config_from_args(build_parser().parse_args(["--strict"])).enforce_templates is True
        assert EmulatorConfig.strict().enforce_templates is True
        assert EmulatorConfig().enforce_templates is False

    def test_bad_registry_refused(self):
        with pytest.raises(ValueError, match=r"templates\[0\] needs a string 'status'"):
            EmulatorConfig(templates=[{"name": "x", "language": "pt_BR"}])

    def test_admin_endpoint_replaces_the_registry(self, blip, emu):
        mine = {"name": "mine", "language": "pt_BR", "status": "PAUSED", "components": []}
        url = f"{emu.url}/_emulator/templates"
        answer = requests.post(url, json={"templates": [mine], "enforce": True}, timeout=5)
        assert answer.json() == {"templates": 1, "enforce": True}
        assert registry(blip)["resource"]["data"] == [mine]
        assert requests.post(url, json={}, timeout=5).status_code == 400


class TestEnforcedSends:
    def test_a_matching_template_is_delivered(self, strict_blip):
        items = send_and_wait(strict_blip, "ok-1", template_message("order_update", ["Ana", "A-1"]))
        assert "failed" not in strict_blip.events(items)

    @pytest.mark.parametrize(
        ("content", "code"),
        [
            (template_message("order_update", ["Ana", "A-1", "extra"]), "132000"),
            (template_message("order_update", ["Ana", "A-1"], language="en_US"), "132001"),
            (template_message("nope", []), "132001"),
            (template_message("black_friday", ["Ana"]), "132015"),
            (template_message("order_ready", ["x" * 1024]), "132005"),
            (
                template_message(
                    "order_ready",
                    ["Ana"],
                    before=[
                        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x"}}]}
                    ],
                ),
                "132000",
            ),
            (
                template_message(
                    "order_ready",
                    ["Ana"],
                    after=[{"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": []}],
                ),
                "132000",
            ),
        ],
        ids=["param-count", "language", "unknown", "paused", "too-long", "no-header", "no-button"],
    )
    def test_a_mismatch_is_accepted_then_fails(self, strict_blip, content, code):
        items = send_and_wait(strict_blip, f"bad-{code}", content)
        events = strict_blip.events(items)
        assert events[0] == "accepted"
        (failed,) = [item for item in items if item["event"] == "failed"]
        assert f"#{code}" in failed["reason"]["description"]

    def test_not_enforced_by_default(self, blip):
        items = send_and_wait(blip, "free-1", template_message("nope", ["x"]))
        assert "failed" not in blip.events(items)
