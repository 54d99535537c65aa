from __future__ import annotations

import json

import pytest

from airflow_provider_blip.exceptions import BlipValueError, InvalidValue, MissingValue, TemplateValueError
from airflow_provider_blip.utils.templates import (
    MAX_BODY_TEXT,
    MAX_HEADER_TEXT,
    MAX_URL_BUTTON,
    TemplateSpec,
    column_value,
    render_content,
    spec_from_args,
)

ROW = {
    "name": "  João 🎉 ",
    "order": "123",
    "img": "https://cdn.example.com/p.png",
    "doc": "https://cdn.example.com/boleto.pdf",
    "file": "boleto-123.pdf",
    "title": "Pedido",
    "slug": "track/123",
}


def components(spec: TemplateSpec, values=ROW) -> list[dict]:
    spec.validate()
    return render_content(spec, values)["template"]["components"]


# --- the envelope ------------------------------------------------------------------------------


def test_minimal_template_has_an_empty_body():
    spec = TemplateSpec(name="boas_vindas")
    spec.validate()
    assert render_content(spec, {}) == {
        "type": "template",
        "template": {
            "name": "boas_vindas",
            "language": {"code": "pt_BR", "policy": "deterministic"},
            "components": [{"type": "body", "parameters": []}],
        },
    }


def test_namespace_language_and_policy():
    spec = TemplateSpec(name="order_update", language="en_US", policy="fallback", namespace="ns-123")
    template = render_content(spec, {})["template"]
    assert template["namespace"] == "ns-123"
    assert template["language"] == {"code": "en_US", "policy": "fallback"}
    assert list(template) == ["namespace", "name", "language", "components"]


def test_content_is_json_serializable():
    spec = TemplateSpec(
        name="t",
        header={"type": "image", "column": "img"},
        body=[{"column": "name"}],
        buttons=[{"sub_type": "quick_reply", "index": 0, "payload": "Sim"}],
    )
    assert json.loads(json.dumps(render_content(spec, ROW))) == render_content(spec, ROW)


# --- components --------------------------------------------------------------------------------


def test_body_literals_and_columns_in_order():
    spec = TemplateSpec(name="t", body=[{"column": "name"}, "fixo", {"column": "order"}])
    assert components(spec) == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "João 🎉"},
                {"type": "text", "text": "fixo"},
                {"type": "text", "text": "123"},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("header", "parameter"),
    [
        pytest.param({"type": "text", "text": "Olá"}, {"type": "text", "text": "Olá"}, id="text-literal"),
        pytest.param(
            {"type": "text", "column": "title"}, {"type": "text", "text": "Pedido"}, id="text-column"
        ),
        pytest.param(
            {"type": "image", "link": "https://x.test/a.png"},
            {"type": "image", "image": {"link": "https://x.test/a.png"}},
            id="image-literal",
        ),
        pytest.param(
            {"type": "image", "column": "img"},
            {"type": "image", "image": {"link": "https://cdn.example.com/p.png"}},
            id="image-column",
        ),
        pytest.param(
            {"type": "video", "link": "http://x.test/v.mp4"},
            {"type": "video", "video": {"link": "http://x.test/v.mp4"}},
            id="video-literal",
        ),
        pytest.param(
            {"type": "video", "link_column": "img"},
            {"type": "video", "video": {"link": "https://cdn.example.com/p.png"}},
            id="video-link-column",
        ),
        pytest.param(
            {"type": "document", "link": "https://x.test/a.pdf", "filename": "a.pdf"},
            {"type": "document", "document": {"link": "https://x.test/a.pdf", "filename": "a.pdf"}},
            id="document-literals",
        ),
        pytest.param(
            {"type": "document", "link_column": "doc", "filename_column": "file"},
            {
                "type": "document",
                "document": {"link": "https://cdn.example.com/boleto.pdf", "filename": "boleto-123.pdf"},
            },
            id="document-columns",
        ),
        pytest.param(
            {"type": "document", "link_column": "doc"},
            {"type": "document", "document": {"link": "https://cdn.example.com/boleto.pdf"}},
            id="document-without-filename",
        ),
    ],
)
def test_header_forms(header, parameter):
    assert components(TemplateSpec(name="t", header=header)) == [
        {"type": "header", "parameters": [parameter]},
        {"type": "body", "parameters": []},
    ]


def test_buttons_sorted_by_index_after_header_and_body():
    spec = TemplateSpec(
        name="t",
        header={"type": "text", "text": "Oi"},
        body=[{"column": "order"}],
        buttons=[
            {"sub_type": "url", "index": 2, "text": {"column": "slug"}},
            {"sub_type": "quick_reply", "index": 0, "payload": "Sim"},
            {"sub_type": "quick_reply", "index": 1, "payload": {"column": "order"}},
        ],
    )
    assert components(spec) == [
        {"type": "header", "parameters": [{"type": "text", "text": "Oi"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "123"}]},
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": 0,
            "parameters": [{"type": "payload", "payload": "Sim"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": 1,
            "parameters": [{"type": "payload", "payload": "123"}],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": 2,
            "parameters": [{"type": "text", "text": "track/123"}],
        },
    ]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Conceição Ñandú", id="accents"),
        pytest.param("🎉👍🏽 olá", id="emoji"),
        pytest.param("日本語テキスト", id="cjk"),
        pytest.param("R$ 1.234,56 <b>&amp;</b> {{1}} %s", id="markup-and-placeholders"),
        pytest.param("a    b", id="four-spaces-allowed"),
    ],
)
def test_values_pass_through_untouched(value):
    spec = TemplateSpec(name="t", body=[{"column": "v"}])
    assert components(spec, {"v": value})[0]["parameters"] == [{"type": "text", "text": value}]


def test_values_are_stringified_and_stripped():
    spec = TemplateSpec(name="t", body=[{"column": "n"}, {"column": "f"}])
    params = components(spec, {"n": 42, "f": "\u00a0 x y \n"})[0]["parameters"]
    assert params == [{"type": "text", "text": "42"}, {"type": "text", "text": "x y"}]


# --- missing and invalid values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "values", "field", "words"),
    [
        pytest.param(
            TemplateSpec(name="t", body=["x", {"column": "order_id"}]),
            {},
            "body[2] (column 'order_id')",
            "no such column",
            id="body-missing",
        ),
        pytest.param(
            TemplateSpec(name="t", body=[{"column": "name"}]),
            {"name": "   "},
            "body[1] (column 'name')",
            "empty",
            id="body-blank",
        ),
        pytest.param(
            TemplateSpec(name="t", body=[{"column": "name"}]),
            {"name": None},
            "body[1] (column 'name')",
            "no such column",
            id="body-none",
        ),
        pytest.param(
            TemplateSpec(name="t", header={"type": "image", "column": "img"}),
            {"img": ""},
            "header.link (column 'img')",
            "empty",
            id="header-link",
        ),
        pytest.param(
            TemplateSpec(name="t", header={"type": "text", "column": "title"}),
            {},
            "header.text (column 'title')",
            "no such column",
            id="header-text",
        ),
        pytest.param(
            TemplateSpec(
                name="t", header={"type": "document", "link": "https://x.test/a", "filename_column": "f"}
            ),
            {"f": ""},
            "header.filename (column 'f')",
            "empty",
            id="header-filename",
        ),
        pytest.param(
            TemplateSpec(name="t", buttons=[{"sub_type": "url", "index": 1, "text": {"column": "slug"}}]),
            {},
            "button[1].text (column 'slug')",
            "no such column",
            id="button",
        ),
    ],
)
def test_missing_value_names_field_and_column(spec, values, field, words):
    spec.validate()
    with pytest.raises(MissingValue) as info:
        render_content(spec, values)
    assert info.value.field == field
    assert field in str(info.value)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("linha 1\nlinha 2", id="newline"),
        pytest.param("a\r\nb", id="crlf"),
        pytest.param("a\tb", id="tab"),
        pytest.param("a     b", id="five-spaces"),
    ],
)
def test_body_value_breaking_whatsapp_rules(value):
    spec = TemplateSpec(name="t", body=[{"column": "v"}])
    with pytest.raises(InvalidValue) as info:
        render_content(spec, {"v": value})
    assert info.value.field == "body[1] (column 'v')"
    assert "WhatsApp" in str(info.value)
    assert value not in str(info.value)  # no personal data in the error


def test_newline_allowed_outside_the_body():
    spec = TemplateSpec(
        name="t", buttons=[{"sub_type": "quick_reply", "index": 0, "payload": {"column": "p"}}]
    )
    assert components(spec, {"p": "a\tb"})[1]["parameters"] == [{"type": "payload", "payload": "a\tb"}]


@pytest.mark.parametrize(
    "link", ["ftp://x.test/a.png", "javascript:alert(1)", "www.x.test/a.png", "https://"]
)
def test_link_from_column_must_be_http(link):
    spec = TemplateSpec(name="t", header={"type": "image", "column": "img"})
    with pytest.raises(InvalidValue, match="http") as info:
        render_content(spec, {"img": link})
    assert info.value.field == "header.link (column 'img')"


def test_both_errors_share_a_base():
    assert issubclass(MissingValue, TemplateValueError)
    assert issubclass(InvalidValue, TemplateValueError)
    assert not issubclass(MissingValue, InvalidValue)


# --- validate and columns ----------------------------------------------------------------------


def test_columns():
    spec = TemplateSpec(
        name="t",
        header={"type": "document", "link_column": "doc", "filename_column": "file"},
        body=["x", {"column": "name"}, {"column": "name"}],
        buttons=[{"sub_type": "url", "index": 0, "text": {"column": "slug"}}],
    )
    assert spec.columns() == {"doc", "file", "name", "slug"}
    assert TemplateSpec(name="t", body=["only literals"]).columns() == set()


def test_valid_specs_pass():
    TemplateSpec(name="pedido_confirmado_v2", language="en").validate()
    TemplateSpec(name="t", language="fil").validate()
    TemplateSpec(name="t", header={"type": "video", "link": "HTTPS://x.test/v.mp4"}, body=["ok"]).validate()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"name": ""}, "template_name", id="empty-name"),
        pytest.param({"name": "Pedido Confirmado"}, "template_name", id="name-with-space-and-capitals"),
        pytest.param({"name": "pedido\n"}, "template_name", id="name-trailing-newline"),
        pytest.param({"language": "pt-BR"}, "language 'pt-BR'.*underscore", id="language-dash"),
        pytest.param({"language": "portuguese"}, "language", id="language-word"),
        pytest.param(
            {"policy": "strict"}, "policy 'strict' is not one of deterministic, fallback", id="policy"
        ),
        pytest.param({"namespace": " "}, "namespace", id="blank-namespace"),
        pytest.param(
            {"header": {"type": "gif", "link": "https://x.test"}},
            "header type 'gif' is not one of text, image, video, document",
            id="header-type",
        ),
        pytest.param({"header": "image"}, "header must be a dict", id="header-not-dict"),
        pytest.param(
            {"header": {"type": "image"}}, "image header needs 'link'.*'column'", id="header-no-link"
        ),
        pytest.param({"header": {"type": "text"}}, "text header needs 'text'", id="header-no-text"),
        pytest.param(
            {"header": {"type": "image", "link": "https://x.test/a", "column": "img"}},
            "only one of link, column",
            id="header-link-and-column",
        ),
        pytest.param(
            {"header": {"type": "image", "link": "https://x.test/a", "filename": "a"}},
            r"unknown key\(s\) \['filename'\]",
            id="header-unknown-key",
        ),
        pytest.param(
            {"header": {"type": "image", "link": "ftp://x.test/a"}}, "header.link is not an http", id="ftp"
        ),
        pytest.param(
            {"header": {"type": "text", "text": "  "}}, "header.text is an empty literal", id="blank-text"
        ),
        pytest.param({"header": {"type": "text", "column": ""}}, "column name", id="blank-column"),
        pytest.param(
            {"header": {"type": "text", "text": 5}}, "header.text must be a string", id="text-not-str"
        ),
        pytest.param({"body": ["ok", ""]}, r"body\[2\] is an empty literal", id="empty-body-literal"),
        pytest.param({"body": ["a\nb"]}, r"body\[1\] has a newline", id="body-literal-newline"),
        pytest.param({"body": [{"col": "x"}]}, r"body\[1\] must be a literal string or", id="body-bad-entry"),
        pytest.param({"body": [{"column": "x", "default": "y"}]}, r"body\[1\]", id="body-extra-key"),
        pytest.param({"body": [42]}, r"body\[1\]", id="body-int"),
        pytest.param({"body": "name"}, "body must be a list", id="body-string"),
        pytest.param(
            {"buttons": [{"sub_type": "call", "index": 0}]}, "sub_type 'call'", id="button-sub-type"
        ),
        pytest.param(
            {"buttons": [{"sub_type": "url", "index": 10, "text": "x"}]},
            "index must be an int from 0 to 9",
            id="index",
        ),
        pytest.param(
            {"buttons": [{"sub_type": "url", "index": True, "text": "x"}]}, "index", id="index-bool"
        ),
        pytest.param({"buttons": [{"sub_type": "url", "index": 0}]}, "needs 'text'", id="url-without-text"),
        pytest.param(
            {"buttons": [{"sub_type": "quick_reply", "index": 0, "text": "x"}]},
            r"unknown key\(s\) \['text'\]",
            id="quick-reply-with-text",
        ),
        pytest.param(
            {
                "buttons": [
                    {"sub_type": "quick_reply", "index": 0, "payload": "a"},
                    {"sub_type": "quick_reply", "index": 0, "payload": "b"},
                ]
            },
            "index 0 is used more than once",
            id="duplicate-index",
        ),
        pytest.param({"buttons": {"sub_type": "url"}}, "buttons must be a list", id="buttons-dict"),
        pytest.param({"buttons": ["x"]}, r"buttons\[0\] must be a dict", id="button-str"),
    ],
)
def test_validate_errors(kwargs, match):
    spec = TemplateSpec(**{"name": "t", **kwargs})
    with pytest.raises(ValueError, match=match):
        spec.validate()


# --- spec_from_args ----------------------------------------------------------------------------


def test_spec_from_args_body_columns_shorthand():
    spec = spec_from_args(template_name="t", body_columns=["name", "order"])
    assert spec.body == [{"column": "name"}, {"column": "order"}]
    assert spec == TemplateSpec(name="t", body=[{"column": "name"}, {"column": "order"}])


def test_spec_from_args_everything():
    header = {"type": "image", "column": "img"}
    body = ["x", {"column": "name"}]
    buttons = [{"sub_type": "quick_reply", "index": 0, "payload": "Sim"}]
    spec = spec_from_args(
        template_name="t",
        language="es_MX",
        policy="deterministic",
        namespace="ns",
        header=header,
        body=body,
        buttons=buttons,
    )
    assert spec == TemplateSpec(
        name="t", language="es_MX", namespace="ns", header=header, body=body, buttons=buttons
    )
    # The spec owns copies: the operator's arguments can change without changing it.
    header["type"] = "video"
    body.append("y")
    buttons[0]["payload"] = "Não"
    assert spec.header == {"type": "image", "column": "img"}
    assert spec.body == ["x", {"column": "name"}]
    assert spec.buttons[0]["payload"] == "Sim"


def test_spec_from_args_defaults():
    assert spec_from_args(template_name="t") == TemplateSpec(name="t")
    assert spec_from_args(template_name="t", namespace="").namespace is None


def test_spec_from_args_does_not_validate():
    # Operators build the spec before Jinja renders their fields; validate() comes later.
    spec = spec_from_args(template_name="{{ params.template }}")
    with pytest.raises(ValueError, match="template_name"):
        spec.validate()


def test_spec_from_args_refuses_body_and_body_columns():
    with pytest.raises(ValueError, match="body or body_columns"):
        spec_from_args(template_name="t", body=["x"], body_columns=["y"])


def test_spec_from_args_refuses_a_string_of_columns():
    with pytest.raises(ValueError, match="body_columns must be a list"):
        spec_from_args(template_name="t", body_columns="name")


# --- WhatsApp's length limits (Meta) -----------------------------------------------------------


def test_the_limits_are_metas():
    assert (MAX_HEADER_TEXT, MAX_BODY_TEXT, MAX_URL_BUTTON) == (60, 1024, 2000)


def render_error(spec: TemplateSpec, values: dict) -> InvalidValue:
    spec.validate()
    with pytest.raises(InvalidValue) as info:
        render_content(spec, values)
    return info.value


def test_a_2000_character_body_value_is_refused_before_any_send():
    """The case of the issue: a 2,000-character value used to be sent as is."""
    value = "Conceição " * 200
    error = render_error(TemplateSpec(name="t", body=[{"column": "obs"}]), {"obs": value})
    assert error.field == "body[1] (column 'obs')"
    assert str(error) == (
        f"body[1] (column 'obs') has {len(value.strip())} characters; "
        "WhatsApp allows at most 1024 in the whole body"
    )


def test_body_parameters_together_must_fit_the_body():
    spec = TemplateSpec(name="t", body=[{"column": "a"}, "fixo", {"column": "b"}])
    fits = {"a": "x" * 510, "b": "y" * 510}  # 510 + 4 + 510 = 1024
    assert [p["text"][:1] for p in components(spec, fits)[0]["parameters"]] == ["x", "f", "y"]
    error = render_error(spec, {"a": "x" * 511, "b": "y" * 510})
    assert error.field == "body (columns 'a', 'b')"
    assert "1025 characters together" in str(error)
    assert "xxx" not in str(error)


def test_body_literals_alone_over_the_limit_fail_validate():
    with pytest.raises(InvalidValue, match="1030 characters together"):
        TemplateSpec(name="t", body=["a" * 515, "b" * 515]).validate()


def test_header_text_value_over_60_characters():
    spec = TemplateSpec(name="t", header={"type": "text", "column": "title"})
    assert components(spec, {"title": "P" * 60})[0]["parameters"] == [{"type": "text", "text": "P" * 60}]
    error = render_error(spec, {"title": "P" * 61})
    assert error.field == "header.text (column 'title')"
    assert "61 characters; WhatsApp allows at most 60 in a text header" in str(error)


def test_header_text_literal_over_60_characters_fails_validate():
    with pytest.raises(InvalidValue, match="header.text has 61 characters"):
        TemplateSpec(name="t", header={"type": "text", "text": "P" * 61}).validate()


@pytest.mark.parametrize("value", ["linha 1\nlinha 2", "a\tb", "a     b"])
def test_header_text_follows_the_body_rules(value):
    error = render_error(TemplateSpec(name="t", header={"type": "text", "column": "title"}), {"title": value})
    assert "newline, a tab or more than 4 spaces" in str(error)
    assert value not in str(error)


def test_url_button_suffix_over_2000_characters():
    spec = TemplateSpec(name="t", buttons=[{"sub_type": "url", "index": 0, "text": {"column": "slug"}}])
    assert components(spec, {"slug": "a" * 2000})[1]["parameters"][0]["text"] == "a" * 2000
    error = render_error(spec, {"slug": "a" * 2001})
    assert error.field == "button[0].text (column 'slug')"
    assert "2001 characters; WhatsApp allows at most 2000 in a button's URL" in str(error)


def test_quick_reply_payload_has_no_length_check():
    spec = TemplateSpec(
        name="t", buttons=[{"sub_type": "quick_reply", "index": 0, "payload": {"column": "p"}}]
    )
    assert components(spec, {"p": "p" * 3000})[1]["parameters"][0]["payload"] == "p" * 3000


def test_limit_errors_carry_no_phone_number():
    value = "ligue +55 31 98888-7777 " * 60
    error = render_error(TemplateSpec(name="t", body=[{"column": "obs"}]), {"obs": value})
    assert "98888" not in str(error)


# --- column names: any case, spaces around -----------------------------------------------------


@pytest.mark.parametrize("name", ["Nome", " NOME ", "nome"])
def test_template_columns_match_any_case_and_spacing(name):
    spec = TemplateSpec(name="t", body=[{"column": "nome"}], header={"type": "text", "column": "Título"})
    params = components(spec, {name: "Ana", "TÍTULO": "Pedido"})
    assert params == [
        {"type": "header", "parameters": [{"type": "text", "text": "Pedido"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
    ]


def test_column_value_prefers_the_exact_name():
    assert column_value({"Nome": "a", "nome": "b"}, "nome") == "b"
    assert column_value({"Nome": "a", "NOME": "b"}, "nome") == "a"  # the first match otherwise
    assert column_value({"Nome": "a"}, " NOME ") == "a"
    assert column_value({"Nome": "a"}, "sobrenome") is None


def test_value_errors_are_rooted_in_the_error_tree() -> None:
    # A caller catching ValueError, BlipValueError or the Blip base error catches them all.
    assert issubclass(MissingValue, TemplateValueError)
    assert issubclass(TemplateValueError, BlipValueError)
    assert issubclass(BlipValueError, ValueError)
