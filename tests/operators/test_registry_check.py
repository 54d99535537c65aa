"""Template-sending operators check the approved template first: a mismatch costs no lookup, no message.

Counts come from what the emulator received (its records), the emulator enforcing the
registry as Blip would (``enforce_templates``).
"""

from __future__ import annotations

import pytest

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.operators.blip import BlipSendTemplateOperator
from airflow_provider_blip.operators.notify import BlipNotifyOperator, BlipSplitAudienceOperator
from tests.conftest import make_context

ROWS = [{"phone": f"+55119{i:08d}", "name": f"Cliente {i}", "order_id": f"A-{i}"} for i in range(5)]


@pytest.fixture
def strict_conn(blip_conn):
    blip_conn.configure(enforce_templates=True)
    return blip_conn


def counted(emulator) -> dict[str, int]:
    lookups = [r for r in emulator.records("commands") if "/accounts/" in r.envelope["uri"]]
    return {"lookups": len(lookups), "messages": len(emulator.records("messages"))}


def notify(tmp_path, **kwargs):
    (chunk,) = BlipSplitAudienceOperator(task_id="split", audience=ROWS, runs_path=str(tmp_path)).execute(
        make_context()
    )
    kwargs = {
        "body_columns": ["name", "order_id"],
        "first_read_after": None,
        "max_failed_ratio": 1.0,
        **kwargs,
    }
    ctx = make_context(map_index=0)
    ctx["ti"].task_id = "notify"
    return BlipNotifyOperator(task_id="notify", chunk=chunk, **kwargs).execute(ctx)


def send(**kwargs):
    kwargs = {"body_columns": ["name", "order_id"], "max_failed_ratio": 1.0, **kwargs}
    recipients = [
        {
            "row": 1,
            "phone": "",
            "account": "5511900000001@wa.gw.msging.net",
            "status": "verified",
            "values": ROWS[1],
        }
    ]
    return BlipSendTemplateOperator(task_id="send", recipients=recipients, **kwargs).execute(make_context())


class TestNotify:
    def test_matching_template_runs_as_today(self, strict_conn, tmp_path):
        out = notify(tmp_path, template_name="order_update")
        assert out["messages"] == 5
        assert counted(strict_conn) == {"lookups": 5, "messages": 5}

    def test_columns_that_do_not_match_fail_with_no_lookup_and_no_message(self, strict_conn, tmp_path):
        with pytest.raises(BlipConfigError) as caught:
            notify(tmp_path, template_name="order_update", body_columns=["name", "order_id", "extra"])
        assert "body has 2 placeholders, the DAG gives 3 columns: name, order_id, extra" in str(caught.value)
        assert "'order_update' (pt_BR)" in str(caught.value)
        assert counted(strict_conn) == {"lookups": 0, "messages": 0}
        assert len(strict_conn.records("commands")) == 1, "one registry read, nothing else"

    def test_paused_template_fails_with_no_lookup_and_no_message(self, strict_conn, tmp_path):
        with pytest.raises(BlipConfigError, match="'black_friday' \\(pt_BR\\) is PAUSED"):
            notify(tmp_path, template_name="black_friday", body_columns=["name"])
        assert counted(strict_conn) == {"lookups": 0, "messages": 0}

    def test_without_the_check_the_mismatch_is_learnt_from_failed_deliveries(self, strict_conn, tmp_path):
        out = notify(tmp_path, template_name="order_update", body_columns=["name"], check_template=False)
        assert counted(strict_conn) == {"lookups": 5, "messages": 5}, "every message was paid for"
        assert not [r for r in strict_conn.records("commands") if "message-templates" in r.envelope["uri"]]
        assert out["rows"] == 5

    def test_recategorised_template_warns_or_stops(self, strict_conn, tmp_path, capfd):
        with pytest.raises(BlipConfigError, match="from UTILITY to MARKETING"):
            notify(tmp_path, template_name="payment_reminder", fail_on_recategorized=True)
        assert counted(strict_conn) == {"lookups": 0, "messages": 0}
        notify(tmp_path, template_name="payment_reminder")
        assert "re-categorised by Meta from UTILITY to MARKETING: its price changed" in capfd.readouterr().out
        assert counted(strict_conn)["messages"] == 5


class TestSendTemplate:
    def test_mismatch_sends_nothing_and_match_sends(self, strict_conn):
        with pytest.raises(BlipConfigError, match="the DAG gives 1 column: name"):
            send(template_name="order_update", body_columns=["name"])
        assert counted(strict_conn)["messages"] == 0
        (row,) = send(template_name="order_update")
        assert row["status"] == "sent"
        assert counted(strict_conn)["messages"] == 1

    def test_unknown_template_and_language(self, strict_conn):
        with pytest.raises(BlipConfigError, match="'nope' is not in the bot's template registry"):
            send(template_name="nope")
        with pytest.raises(BlipConfigError, match="has no en_US version"):
            send(template_name="order_update", language="en_US")
        assert counted(strict_conn)["messages"] == 0
