"""The notification operators against the emulator: good rows, bad rows and the policy."""

from __future__ import annotations

import json

import pytest

from airflow_provider_blip.exceptions import BlipAuthError, BlipBatchError, BlipConfigError
from airflow_provider_blip.operators.blip import (
    BlipSendTemplateOperator,
    BlipSetContextOperator,
    BlipVerifyContactOperator,
)
from airflow_provider_blip.utils.ids import message_id
from tests.conftest import TEST_KEY, connection_json, make_context

ANA = "+5511987654321"
JOAO_LEGACY = "(31) 98888-7777"  # account 553188887777 (no ninth digit)


def verify(rows, **kwargs):
    kwargs.setdefault("max_failed_ratio", 1.0)
    return BlipVerifyContactOperator(task_id="verify", audience=rows, **kwargs)


class TestVerify:
    def test_each_row_reported_and_only_valid_complete_numbers_looked_up(self, blip_conn, context):
        rows = [
            {"phone": ANA, "name": "Ana"},
            {"phone": JOAO_LEGACY, "name": "João"},
            {"phone": "+55 31 98888-7777", "name": "João again"},
            {"phone": "12345", "name": "Bad"},
            {"phone": "+5511912340003", "name": ""},
            {"name": "no phone at all"},
        ]
        results = verify(rows, required_columns=["name"]).execute(context)
        assert [r["status"] for r in results] == [
            "verified",
            "verified",
            "duplicate",
            "invalid_number",
            "invalid_values",
            "invalid_number",
        ]
        assert results[1]["account"] == "553188887777@wa.gw.msging.net"
        assert results[1]["phone"] == "+5531988887777"
        assert results[2]["reason"] == "same number as row 2"
        assert "name" in results[4]["reason"]
        # lookups run in parallel threads: compare them as a set, and count them
        lookups = [r.envelope["uri"] for r in blip_conn.records("commands")]
        assert sorted(lookups) == [
            "lime://wa.gw.msging.net/accounts/%2B5511987654321",
            "lime://wa.gw.msging.net/accounts/%2B5531988887777",
        ]

    def test_not_on_whatsapp_and_lookup_failures_are_per_row(self, blip_conn, context):
        blip_conn.configure(unregistered_numbers={"+5511900000001"})
        results = verify([{"phone": ANA}, {"phone": "+5511900000001"}]).execute(context)
        assert [r["status"] for r in results] == ["verified", "not_on_whatsapp"]
        assert results[1]["code"] == 67

    def test_server_errors_after_retries_fail_the_row_not_the_batch(self, emulator, monkeypatch, context):
        monkeypatch.setenv("AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator, max_retries=0))
        emulator.configure(error_rate=1.0)
        results = verify([{"phone": ANA}]).execute(context)
        assert results[0]["status"] == "lookup_failed"
        assert "HTTP 5" in results[0]["reason"]

    def test_bad_key_fails_the_task_at_once(self, emulator, monkeypatch, context):
        monkeypatch.setenv(
            "AIRFLOW_CONN_BLIP_DEFAULT", connection_json(emulator).replace(TEST_KEY, "wrong-key-0000")
        )
        with pytest.raises(BlipAuthError):
            verify([{"phone": ANA}, {"phone": JOAO_LEGACY}]).execute(context)

    def test_failure_ratio_fails_the_task_with_counts(self, blip_conn, context):
        rows = [{"phone": ANA}, {"phone": "1"}, {"phone": "2"}]
        with pytest.raises(BlipBatchError, match="2 of 3") as info:
            verify(rows, max_failed_ratio=0.5).execute(context)
        assert info.value.summary == {"invalid_number": 2, "verified": 1}

    def test_csv_without_phone_column_names_it(self, blip_conn, context, tmp_path):
        path = tmp_path / "audience.csv"
        path.write_text("telefone,nome\n+5511987654321,Ana\n", encoding="utf-8")
        with pytest.raises(BlipConfigError, match="phone"):
            verify(str(path)).execute(context)

    def test_csv_file_url(self, blip_conn, context, tmp_path):
        path = tmp_path / "audience.csv"
        path.write_text("phone,name\n+5511987654321,Ana\n(31) 98888-7777,João\n", encoding="utf-8")
        results = verify(path.as_uri()).execute(context)
        assert [r["values"]["name"] for r in results] == ["Ana", "João"]

    def test_bad_ratio_refused_at_construction(self):
        with pytest.raises(ValueError, match="max_failed_ratio"):
            BlipVerifyContactOperator(task_id="v", audience=[], max_failed_ratio=1.5)


def verified(blip_conn, context, rows):
    return verify(rows).execute(context)


def send(recipients, **kwargs):
    kwargs.setdefault("template_name", "order_update")
    # These tests send shapes the seeded registry does not have; the check has its own tests.
    kwargs.setdefault("check_template", False)
    kwargs.setdefault("max_failed_ratio", 1.0)
    return BlipSendTemplateOperator(task_id="send", recipients=recipients, **kwargs)


class TestSendTemplate:
    def test_sends_to_the_account_with_components(self, blip_conn, context):
        recipients = verified(blip_conn, context, [{"phone": JOAO_LEGACY, "name": "João", "order": "A-1"}])
        results = send(
            recipients,
            body_columns=["name", "order"],
            header={"type": "image", "link": "https://example.com/logo.png"},
            buttons=[{"sub_type": "quick_reply", "index": 0, "payload": "sim"}],
        ).execute(context)
        assert results[0]["status"] == "sent"
        (record,) = blip_conn.records("messages")
        assert record.envelope["to"] == "553188887777@wa.gw.msging.net"
        assert (
            record.envelope["id"]
            == results[0]["message_id"]
            == message_id(
                dag_id="dag",
                run_id="run-1",
                task_id="task",
                map_index=-1,
                recipient="553188887777@wa.gw.msging.net",
                template="order_update",
            )
        )
        components = record.envelope["content"]["template"]["components"]
        assert [c["type"] for c in components] == ["header", "body", "button"]
        assert components[1]["parameters"] == [
            {"type": "text", "text": "João"},
            {"type": "text", "text": "A-1"},
        ]

    def test_row_missing_a_value_fails_alone(self, blip_conn, context):
        recipients = verified(
            blip_conn, context, [{"phone": ANA, "name": "Ana"}, {"phone": JOAO_LEGACY, "name": ""}]
        )
        results = send(recipients, body_columns=["name"]).execute(context)
        assert [r["status"] for r in results] == ["sent", "invalid_values"]
        assert "row 2" in results[1]["reason"]
        assert "name" in results[1]["reason"]
        assert len(blip_conn.records("messages")) == 1

    def test_bad_template_refused_before_anything_is_sent(self, blip_conn, context):
        recipients = verified(blip_conn, context, [{"phone": ANA}])
        with pytest.raises(ValueError, match="gif"):
            send(recipients, header={"type": "gif", "link": "https://x.example/a.gif"}).execute(context)
        assert blip_conn.records("messages") == []

    def test_earlier_failures_pass_through_and_do_not_count_twice(self, blip_conn, context):
        recipients = verified(blip_conn, context, [{"phone": ANA}, {"phone": "1"}, {"phone": "2"}])
        results = send(recipients, max_failed_ratio=0.0).execute(context)  # 0: any send failure fails
        assert [r["status"] for r in results] == ["sent", "invalid_number", "invalid_number"]

    def test_retry_does_not_resend_what_blip_already_has(self, blip_conn, context):
        recipients = verified(blip_conn, context, [{"phone": ANA}, {"phone": JOAO_LEGACY}])
        first = send(recipients).execute(context)
        # a second try of the same task instance: same ids; Blip already has both
        again = send(recipients).execute(make_context(try_number=2))
        assert [r["message_id"] for r in again] == [r["message_id"] for r in first]
        assert len(blip_conn.records("messages")) == 2

    def test_accepts_bare_identities_and_rejects_other_types(self, blip_conn, context):
        results = send(["5511987654321@wa.gw.msging.net"]).execute(context)
        assert results[0]["status"] == "sent"
        with pytest.raises(BlipConfigError, match=r"recipients\[0\]"):
            send([42]).execute(context)

    def test_templated_fields_cover_every_value(self):
        fields = set(BlipSendTemplateOperator.template_fields)
        assert {
            "recipients",
            "template_name",
            "language",
            "body",
            "body_columns",
            "header",
            "buttons",
        } <= fields


class TestSetContext:
    def test_master_state_before_state_then_variables(self, blip_conn, context):
        op = BlipSetContextOperator(
            task_id="ctx",
            recipients=["5511987654321@wa.gw.msging.net"],
            flow_id="flow-1",
            state_id="block-9",
            master_state="subbot@msging.net",
            variables={"Campaign": "black-friday"},
            delete=["old-var"],
        )
        results = op.execute(context)
        assert results[0]["status"] == "context_set"
        sent = [
            (r.envelope["method"], r.envelope["uri"].rsplit("/", 1)[1]) for r in blip_conn.records("commands")
        ]
        assert sent == [
            ("set", "master-state"),
            ("set", "stateid%40flow-1"),
            ("set", "campaign"),
            ("delete", "old-var"),
        ]

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"flow_id": "f"}, "flow_id and state_id go together"),
            ({}, "nothing to do"),
            ({"master_state": "subbot"}, "master_state must be a bot identity"),
        ],
    )
    def test_bad_arguments_name_the_setting(self, blip_conn, context, kwargs, message):
        op = BlipSetContextOperator(task_id="ctx", recipients=["5511987654321@wa.gw.msging.net"], **kwargs)
        with pytest.raises(ValueError, match=message):
            op.execute(context)
        assert blip_conn.records("commands") == []

    def test_only_reachable_rows_are_moved(self, blip_conn, context):
        rows = [
            {"row": 1, "phone": ANA, "status": "sent", "account": "5511987654321@wa.gw.msging.net"},
            {"row": 2, "phone": "1", "status": "invalid_number"},
            {"row": 3, "phone": ANA, "status": "send_failed", "account": "5511987654321@wa.gw.msging.net"},
        ]
        results = BlipSetContextOperator(task_id="c", recipients=rows, flow_id="f", state_id="s").execute(
            context
        )
        assert [r["status"] for r in results] == ["context_set", "invalid_number", "send_failed"]
        assert len(blip_conn.records("commands")) == 1


def test_results_are_json_serializable(blip_conn, context):
    recipients = verified(blip_conn, context, [{"phone": ANA, "name": "Zoë 🎉"}, {"phone": "x"}])
    json.dumps(send(recipients, body_columns=["name"]).execute(context))


def test_required_columns_as_a_string_is_refused(blip_conn, context):
    with pytest.raises(ValueError, match="required_columns must be a list"):
        verify([{"phone": ANA, "name": "Ana"}], required_columns="name").execute(context)
