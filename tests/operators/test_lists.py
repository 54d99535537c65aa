"""Distribution lists and the contact survey against the emulator."""

from __future__ import annotations

import pytest

from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.operators.lists import (
    BlipAddToListOperator,
    BlipContactSurveyOperator,
    BlipCreateListOperator,
    BlipDeleteListOperator,
    BlipDistributionListOperator,
    BlipListMembersOperator,
    BlipRemoveFromListOperator,
    BlipSendToListOperator,
    BlipSyncListOperator,
)
from airflow_provider_blip.utils.lime import survey_filter

A = "5511987654321@wa.gw.msging.net"
B = "553188887777@wa.gw.msging.net"
C = "5521999990001@wa.gw.msging.net"


def list_op(action, **kwargs):
    # The deprecated wrapper: every test below also holds for the one-action operators.
    with pytest.warns(DeprecationWarning, match="is deprecated"):
        return BlipDistributionListOperator(
            task_id=f"list_{action}", list_name="vip", action=action, **kwargs
        )


def current_members():
    return sorted(BlipHook().iter_list_members("vip@broadcast.msging.net"))


def test_add_creates_a_missing_list_once(blip_conn, context):
    results = list_op("add", recipients=[A, B, C]).execute(context)
    assert [r["status"] for r in results] == ["added"] * 3
    assert current_members() == sorted([A, B, C])
    creations = [r for r in blip_conn.records("commands") if r.envelope["uri"] == "/lists"]
    assert 1 <= len(creations) <= 3  # threads that saw 101 create it under a lock


def test_remove_is_idempotent(blip_conn, context):
    list_op("add", recipients=[A, B]).execute(context)
    results = list_op("remove", recipients=[A, C]).execute(context)
    assert [r["status"] for r in results] == ["removed", "removed"]
    assert current_members() == [B]


def test_sync_adds_missing_and_removes_extra(blip_conn, context):
    list_op("add", recipients=[A, B]).execute(context)
    results = list_op("sync", recipients=[B, C]).execute(context)
    assert sorted((r["account"], r["status"]) for r in results) == sorted([(C, "added"), (A, "removed")])
    assert current_members() == sorted([B, C])


def test_members_pages(blip_conn, context):
    accounts = [f"55119{i:08d}@wa.gw.msging.net" for i in range(25)]
    list_op("add", recipients=accounts).execute(context)
    assert sorted(list_op("members", page_size=10).execute(context)) == sorted(accounts)


def test_create_delete_and_send_template(blip_conn, context):
    assert list_op("create").execute(context) == {"list": "vip@broadcast.msging.net"}
    list_op("create").execute(context)  # already existing is fine
    sent = list_op("send_template", template_name="promo", body=["${contact.name}"]).execute(context)
    (message,) = [r.envelope for r in blip_conn.records("messages")]
    assert message["to"] == "vip@broadcast.msging.net"
    assert message["id"] == sent["message_id"]
    assert message["metadata"] == {"#message.replaceVariables": "true"}
    assert message["content"]["template"]["components"][-1]["parameters"] == [
        {"type": "text", "text": "${contact.name}"}
    ]
    list_op("delete").execute(context)
    list_op("delete").execute(context)  # deleting a missing list is fine


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"action": "merge"}, "action must be one of"), ({"action": "send_template"}, "needs template_name")],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BlipDistributionListOperator(task_id="x", list_name="vip", **kwargs)
    with pytest.raises(ValueError, match="needs template_name"):
        BlipSendToListOperator(task_id="x", list_name="vip", template_name="")


def test_survey_filter_matches_the_article():
    assert survey_filter("WhatsApp") == "(substringof('WhatsApp',source))"


def test_survey_reads_past_the_filtered_limit(blip_conn, context):
    blip_conn.add_contacts(10_500, source="WhatsApp")
    blip_conn.add_contacts(40, source="BlipChat", start=20_000)
    results = BlipContactSurveyOperator(task_id="survey").execute(context)
    identities = {r["account"] for r in results}
    assert len(identities) == len(results) == 10_500
    uris = [r.envelope["uri"] for r in blip_conn.records("commands")]
    assert any("lastmessagedate" in u for u in uris), "windows were used after the limit"
    assert all(r.outcome == "ok" for r in blip_conn.records("commands"))


def test_sync_refuses_to_empty_a_list(blip_conn, context):
    from airflow_provider_blip.exceptions import BlipConfigError

    list_op("add", recipients=[A]).execute(context)
    with pytest.raises(BlipConfigError, match="remove every member"):
        list_op("sync", recipients=[{"row": 1, "phone": "1", "status": "invalid_number"}]).execute(context)
    assert current_members() == [A]


def test_list_send_is_not_repeated_on_retry(blip_conn, context):
    from tests.conftest import make_context

    first = list_op("send_template", template_name="promo").execute(context)
    again = list_op("send_template", template_name="promo").execute(make_context(try_number=2))
    assert again["message_id"] == first["message_id"]
    assert len(blip_conn.records("messages")) == 1


def test_one_operator_per_action(blip_conn, context):
    vip = {"list_name": "vip"}
    assert BlipCreateListOperator(task_id="c", **vip).execute(context) == {"list": "vip@broadcast.msging.net"}
    added = BlipAddToListOperator(task_id="a", recipients=[A, B], **vip).execute(context)
    assert [(r["account"], r["status"]) for r in added] == [(A, "added"), (B, "added")]
    removed = BlipRemoveFromListOperator(task_id="r", recipients=[B, C], **vip).execute(context)
    assert [r["status"] for r in removed] == ["removed", "removed"]
    synced = BlipSyncListOperator(task_id="s", recipients=[C], **vip).execute(context)
    assert sorted((r["account"], r["status"]) for r in synced) == sorted([(C, "added"), (A, "removed")])
    assert BlipListMembersOperator(task_id="m", page_size=1, **vip).execute(context) == [C]
    sent = BlipSendToListOperator(task_id="t", template_name="promo", **vip).execute(context)
    assert set(sent) == {"list", "message_id"}
    assert BlipDeleteListOperator(task_id="d", **vip).execute(context) == {"list": "vip@broadcast.msging.net"}
    assert blip_conn.list_members("vip@broadcast.msging.net") is None


def test_wrapper_runs_the_action_operator_on_one_hook(blip_conn, context):
    wrapper = list_op("add", recipients=[A])
    delegate = wrapper.delegate()
    assert type(delegate) is BlipAddToListOperator
    assert delegate.hook is wrapper.hook
    assert delegate.recipients == [A]


def test_hook_creates_a_missing_list_once_across_threads(blip_conn):
    from airflow_provider_blip.utils.concurrency import bounded_map

    hook = BlipHook()
    accounts = [f"55119{i:08d}@wa.gw.msging.net" for i in range(16)]
    list(bounded_map(lambda a: hook.add_list_member("team", a), accounts, workers=8))
    creations = [r for r in blip_conn.records("commands") if r.envelope["uri"] == "/lists"]
    assert len(creations) == 1
    assert sorted(blip_conn.list_members("team@broadcast.msging.net")) == sorted(accounts)
