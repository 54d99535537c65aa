"""BlipHook.list_templates / get_template against the emulator's registry."""

from __future__ import annotations

import pytest

from airflow_provider_blip.hooks.blip import BlipHook


def registry_reads(emulator) -> list[str]:
    return [
        r.envelope["uri"] for r in emulator.records("commands") if "message-templates" in r.envelope["uri"]
    ]


def many(n: int) -> list[dict]:
    return [
        {
            "name": f"t{i:03d}",
            "language": "pt_BR",
            "status": "APPROVED",
            "category": "UTILITY",
            "components": [],
        }
        for i in range(n)
    ]


def test_get_template_reads_the_enriched_registry_once_per_hook(blip_conn):
    hook = BlipHook()
    template = hook.get_template("payment_reminder", "pt_BR")
    assert template is not None
    assert (template.category, template.previous_category, template.body_placeholders) == (
        "MARKETING",
        "UTILITY",
        2,
    )
    assert hook.get_template("payment_reminder", "en_US") is None
    assert hook.list_templates(name="payment_reminder") == [template]
    assert registry_reads(blip_conn) == [
        "/message-templates-enriched?templateName=payment_reminder&$skip=0&$take=100"
    ], "cached per hook"
    BlipHook().get_template("payment_reminder", "pt_BR")
    assert len(registry_reads(blip_conn)) == 2, "a new hook (a new task) reads again"


def test_list_templates_pages_until_a_short_page(blip_conn):
    blip_conn.configure(templates=many(250))
    hook = BlipHook()
    names = [t.name for t in hook.list_templates()]
    assert names == [f"t{i:03d}" for i in range(250)]
    assert registry_reads(blip_conn) == [
        "/message-templates-enriched?$skip=0&$take=100",
        "/message-templates-enriched?$skip=100&$take=100",
        "/message-templates-enriched?$skip=200&$take=100",
    ]
    assert [t.name for t in hook.list_templates(name="t007")] == ["t007"], "filtered from the full list"
    assert len(registry_reads(blip_conn)) == 3


@pytest.mark.parametrize("extra", [{"status": "approved", "unknown": {"x": 1}}])
def test_unknown_fields_are_ignored_and_status_upper_cased(blip_conn, extra):
    blip_conn.configure(templates=[{**many(1)[0], **extra}])
    (template,) = BlipHook().list_templates()
    assert template.status == "APPROVED"
