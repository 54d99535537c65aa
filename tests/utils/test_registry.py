"""The registry check: a template spec against the approved template (pure, no I/O)."""

from __future__ import annotations

import pytest

from airflow_provider_blip.exceptions import BlipConfigError, InvalidValue
from airflow_provider_blip.utils.registry import ApprovedButton, ApprovedTemplate, check_spec, placeholders
from airflow_provider_blip.utils.templates import render_content, spec_from_args


def approved(**components) -> dict:
    item = {
        "name": "invoice",
        "language": "pt_BR",
        "category": "UTILITY",
        "status": "APPROVED",
        "id": "1",
        "an_unknown_field": {"kept": "out"},
        "components": [{"type": "BODY", "text": "Olá {{1}}, sua fatura vence em {{2}}."}],
    }
    item.update(components)
    return item


def registry(*items) -> list[ApprovedTemplate]:
    parsed = [ApprovedTemplate.from_graph(item) for item in items or (approved(),)]
    return [t for t in parsed if t is not None]


def spec(**kwargs):
    kwargs.setdefault("template_name", "invoice")
    kwargs.setdefault("body_columns", ["name", "due_date"])
    made = spec_from_args(**kwargs)
    made.validate()
    return made


class TestReadingTheRegistry:
    def test_graph_item_read_with_header_and_buttons(self):
        item = approved(
            components=[
                {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}"},
                {"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} saiu."},
                {"type": "FOOTER", "text": "Loja"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "QUICK_REPLY", "text": "Sim"},
                        {"type": "URL", "text": "Ver", "url": "https://x.com/p/{{1}}"},
                    ],
                },
            ],
            previous_category="utility",
        )
        template = ApprovedTemplate.from_graph(item)
        assert template == ApprovedTemplate(
            name="invoice",
            language="pt_BR",
            status="APPROVED",
            category="UTILITY",
            previous_category="UTILITY",
            header_format="TEXT",
            header_variables=1,
            body_text="Olá {{1}}, seu pedido {{2}} saiu.",
            buttons=(ApprovedButton(0, "QUICK_REPLY"), ApprovedButton(1, "URL", 1)),
        )
        assert template.body_placeholders == 2

    @pytest.mark.parametrize("item", [None, "x", {"name": "x"}, {"language": "pt_BR"}])
    def test_items_that_are_not_templates_are_skipped(self, item):
        assert ApprovedTemplate.from_graph(item) is None

    def test_placeholders_counts_the_highest_index(self):
        assert placeholders("{{1}} e {{ 3 }} e {{1}}") == 3
        assert placeholders("sem variáveis") == 0


class TestCheck:
    def test_a_matching_spec_passes_with_the_body_limit_lowered(self):
        result = check_spec(spec(), registry())
        assert result.warnings == ()
        static = len("Olá , sua fatura vence em .")
        assert result.spec.body_limit == 1024 - static

    def test_the_rendered_body_must_fit_1024_characters(self):
        checked = check_spec(spec(), registry()).spec
        render_content(checked, {"name": "a" * 500, "due_date": "b" * (checked.body_limit - 500)})
        with pytest.raises(InvalidValue, match="the approved text takes 27"):
            render_content(checked, {"name": "a" * 500, "due_date": "b" * (checked.body_limit - 499)})

    def test_literals_that_overflow_the_body_fail_before_any_row(self):
        with pytest.raises(BlipConfigError, match="more than 1024"):
            check_spec(spec(body=["a" * 1000, "b" * 20], body_columns=None), registry())

    def test_wrong_parameter_count_names_the_columns(self):
        with pytest.raises(BlipConfigError) as info:
            check_spec(spec(body_columns=["name", "due_date", "extra"]), registry())
        assert str(info.value) == (
            "template 'invoice' (pt_BR) does not match the DAG: body has 2 placeholders, "
            "the DAG gives 3 columns: name, due_date, extra"
        )

    def test_mixed_literals_and_columns_are_named(self):
        with pytest.raises(BlipConfigError, match="the DAG gives 1 parameter: a literal"):
            check_spec(spec(body=["x"], body_columns=None), registry())

    @pytest.mark.parametrize("status", ["PAUSED", "DISABLED", "PENDING", "REJECTED"])
    def test_only_approved_templates_pass_and_the_status_is_named(self, status):
        with pytest.raises(BlipConfigError, match=f"is {status}: only APPROVED"):
            check_spec(spec(), registry(approved(status=status.lower())))

    def test_missing_template_and_missing_language(self):
        with pytest.raises(BlipConfigError, match="'other' is not in the bot's template registry"):
            check_spec(spec(template_name="other"), registry())
        with pytest.raises(BlipConfigError, match=r"no en_US version in the registry \(it has: es, pt_BR\)"):
            check_spec(spec(language="en_US"), registry(approved(), approved(language="es")))

    @pytest.mark.parametrize(
        ("header_component", "header", "message"),
        [
            (
                None,
                {"type": "image", "link": "https://x.example/a.png"},
                r"no header, the DAG gives one \(IMAGE\)",
            ),
            ({"type": "HEADER", "format": "IMAGE"}, None, "header is IMAGE, the DAG gives none"),
            (
                {"type": "HEADER", "format": "VIDEO"},
                {"type": "image", "link": "https://x.example/a.png"},
                "header is VIDEO, the DAG gives IMAGE",
            ),
            ({"type": "HEADER", "format": "TEXT", "text": "Fatura {{1}}"}, None, "TEXT with a variable"),
            (
                {"type": "HEADER", "format": "TEXT", "text": "Fatura"},
                {"type": "text", "text": "x"},
                "TEXT without variables",
            ),
        ],
    )
    def test_header_format_and_variables(self, header_component, header, message):
        body = {"type": "BODY", "text": "Olá {{1}}, sua fatura vence em {{2}}."}
        components = [header_component, body] if header_component else [body]
        with pytest.raises(BlipConfigError, match=message):
            check_spec(spec(header=header), registry(approved(components=components)))

    def test_matching_media_header_passes(self):
        components = [{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "{{1}} {{2}}"}]
        header = {"type": "document", "link_column": "boleto", "filename": "boleto.pdf"}
        assert check_spec(spec(header=header), registry(approved(components=components)))

    def test_dynamic_buttons(self):
        buttons = {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Sim"},
                {"type": "URL", "text": "Ver", "url": "https://x.com/p/{{1}}"},
                {"type": "URL", "text": "Site", "url": "https://x.com"},
            ],
        }
        template = registry(approved(components=[{"type": "BODY", "text": "{{1}} {{2}}"}, buttons]))
        url = {"sub_type": "url", "index": 1, "text": {"column": "order"}}
        assert check_spec(spec(buttons=[url]), template)
        with pytest.raises(BlipConfigError, match="URL button 1 needs its suffix"):
            check_spec(spec(), template)
        with pytest.raises(BlipConfigError, match="button 0 is QUICK_REPLY, the DAG gives a URL"):
            check_spec(spec(buttons=[url, {"sub_type": "url", "index": 0, "text": "x"}]), template)
        with pytest.raises(BlipConfigError, match="button 2 is a static URL"):
            check_spec(spec(buttons=[url, {"sub_type": "url", "index": 2, "text": "x"}]), template)
        with pytest.raises(BlipConfigError, match="the DAG gives button 5, the template has 3 buttons"):
            check_spec(spec(buttons=[url, {"sub_type": "quick_reply", "index": 5, "payload": "x"}]), template)

    def test_several_differences_are_named_together(self):
        with pytest.raises(BlipConfigError) as info:
            check_spec(spec(body_columns=["name"], header={"type": "text", "text": "x"}), registry())
        assert "body has 2 placeholders, the DAG gives 1 column: name; the template has no header" in str(
            info.value
        )

    def test_recategorised_template_warns_or_fails(self):
        moved = registry(approved(category="MARKETING", previous_category="UTILITY"))
        result = check_spec(spec(), moved)
        assert result.warnings == (
            "template 'invoice' (pt_BR) was re-categorised by Meta from UTILITY to MARKETING: "
            "its price changed",
        )
        with pytest.raises(BlipConfigError, match="from UTILITY to MARKETING.*fail_on_recategorized=True"):
            check_spec(spec(), moved, fail_on_recategorized=True)
