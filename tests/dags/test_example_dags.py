"""Every example DAG, run for real against the emulator; assertions on what Blip received."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import DAGS_FOLDER, TEST_KEY
from tests.dags.conftest import task_states, xcom

pytestmark = pytest.mark.dag

ROW2_RAW = "5531988887777"  # (31) 98888-7777: a legacy account without the ninth digit
ROW2_ACCOUNT = "553188887777@wa.gw.msging.net"
RAW_NUMBERS = ["5511987654321", "98888-7777", "5531988887777", "5521999990001", "5511955550004"]


def messages(emulator):
    return [r.envelope for r in emulator.records("messages")]


def commands(emulator, method=None):
    return [
        r.envelope for r in emulator.records("commands") if method is None or r.envelope["method"] == method
    ]


def assert_router_order_and_list_members(emulator):
    """Each account got master-state before its flow state; each sent account joined the list once."""
    sets = [c["uri"] for c in commands(emulator, "set") if c["uri"].startswith("/contexts/")]
    for identity in {uri.split("/")[2] for uri in sets}:
        mine = [uri.rsplit("/", 1)[1] for uri in sets if uri.split("/")[2] == identity]
        assert mine == ["master-state", "stateid%40notifications-flow"], "master-state goes first"
    added = [
        r.envelope["resource"]
        for r in emulator.records("commands")
        if r.envelope["uri"].endswith("/recipients") and r.outcome == "ok"
    ]
    assert ROW2_ACCOUNT in added
    assert len(added) == len(set(added)) == 11


def test_dags_parse_without_network(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    def no_network(*args, **kwargs):
        raise AssertionError("a DAG file opened a network connection at parse time")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    assert {
        "blip_whatsapp_notifications",
        "blip_distribution_list_sync",
        "blip_on_call_alert",
        "blip_hello_whatsapp",
        "blip_whatsapp_steps",
    } <= set(bag.dag_ids)
    main = bag.dags["blip_whatsapp_notifications"]
    assert main.timetable.expression == "0 9 * * *"
    assert str(main.timetable.timezone.name) == "America/Sao_Paulo"
    assert main.catchup is False
    assert set(main.params) == {
        "audience",
        "template_name",
        "language",
        "body_columns",
        "flow_id",
        "state_id",
        "master_state",
        "list_name",
        "default_region",
        "phone_column",
        "max_invalid_ratio",
        "max_failed_ratio",
        "skip_if_sent_within_hours",
        "campaign_key",
        "max_delay_hours",
        "send_window",
        "approval_threshold",
        "prices",
        "currency",
        "retention_days",
    }


class TestNotificationJob:
    """The scheduled job: split into chunks, one notify task per chunk, files behind XCom."""

    def test_default_run(self, dagbag, dag_emulator, capfd):
        dag_run = dagbag.get_dag("blip_whatsapp_notifications").test()
        out, err = capfd.readouterr()
        assert str(dag_run.state) == "success", task_states(dag_run)
        assert not [c for c in commands(dag_emulator, "set") if c["uri"].startswith("/lists")], "no list"
        sent = messages(dag_emulator)
        accounts = [envelope["to"] for envelope in sent]
        assert len(accounts) == len(set(accounts)) == 11, "one message per account"
        assert ROW2_ACCOUNT in accounts
        assert f"{ROW2_RAW}@wa.gw.msging.net" not in accounts
        lookups = [c["uri"] for c in commands(dag_emulator, "get") if "accounts" in c["uri"]]
        assert len(lookups) == len(set(lookups)) == 11, "one lookup per valid, distinct, complete row"
        states = [c for c in commands(dag_emulator, "set") if "stateid%40notifications-flow" in c["uri"]]
        assert len(states) == 11
        reads = [c for c in commands(dag_emulator, "get") if c["uri"].startswith("/notifications")]
        assert len(reads) == 11, "one status read per message, in the pipeline: the wait read none"

        report = xcom(dag_run, "report")
        delivered = report.pop("received", 0) + report.pop("consumed", 0)
        assert delivered == 10
        assert report == {"duplicate": 1, "failed": 1, "invalid_number": 1, "invalid_values": 1}
        assert "Blip notification run: 14 recipients in 1 chunks" in out
        for raw in RAW_NUMBERS:
            assert raw not in out + err
        assert TEST_KEY not in out + err
        # XCom carries references and counts only: no number, nothing big
        for task_id in ("split", "notify", "wait_for_delivery", "report"):
            value = json.dumps(xcom(dag_run, task_id))
            assert len(value) < 2048, task_id
            assert not any(raw in value for raw in RAW_NUMBERS), task_id

    def test_router_and_list_run(self, dagbag, dag_emulator):
        conf = {"master_state": "subbot@msging.net", "list_name": "clientes-vip"}
        dag_run = dagbag.get_dag("blip_whatsapp_notifications").test(run_conf=conf)
        assert str(dag_run.state) == "success", task_states(dag_run)
        assert_router_order_and_list_members(dag_emulator)


class TestStepByStepJob:
    """The same job with one thin operator per step (small audiences)."""

    def test_default_run(self, dagbag, dag_emulator, capfd):
        dag_run = dagbag.get_dag("blip_whatsapp_steps").test()
        out, err = capfd.readouterr()
        assert str(dag_run.state) == "success", task_states(dag_run)
        assert task_states(dag_run)["add_to_list"] == "skipped"

        sent = messages(dag_emulator)
        by_to = {}
        for envelope in sent:
            by_to.setdefault(envelope["to"], []).append(envelope)
        # the ninth-digit account gets the message, the raw number does not, and once only
        assert len(by_to[ROW2_ACCOUNT]) == 1, "duplicate row 3 is served once"
        assert f"{ROW2_RAW}@wa.gw.msging.net" not in by_to
        # the invalid number and the row without a value were never looked up
        lookups = [c["uri"] for c in commands(dag_emulator, "get") if "accounts" in c["uri"]]
        assert not any("12345" in uri for uri in lookups)
        assert not any("5511912340003" in uri for uri in lookups)
        assert len(lookups) == len(set(lookups)) == 11, "one lookup per valid, distinct, complete row"
        # unicode values arrive intact, in {{1}}, {{2}} order
        zoe = by_to["5521999990001@wa.gw.msging.net"][0]["content"]["template"]
        assert zoe["name"] == "order_update"
        assert zoe["language"] == {"code": "pt_BR", "policy": "deterministic"}
        assert zoe["components"][-1]["parameters"] == [
            {"type": "text", "text": "Zoë 🎉"},
            {"type": "text", "text": "A-1005"},
        ]
        # every sent message got its flow state
        states = [c for c in commands(dag_emulator, "set") if "stateid%40notifications-flow" in c["uri"]]
        assert len(states) == len(sent) == 11
        assert all(c["resource"] == "order-update-followup" for c in states)

        delivery = {r["row"]: r for r in rows_in(xcom(dag_run, "wait_for_delivery"))}
        assert delivery[8]["status"] == "failed"
        assert delivery[8]["reason"] == "Destination not found"
        assert delivery[8]["code"] == 42
        report = xcom(dag_run, "report")
        delivered = report.pop("received", 0) + report.pop("consumed", 0)
        assert delivered == 10, "the target is received; some may already be read (consumed)"
        assert report == {"duplicate": 1, "failed": 1, "invalid_number": 1, "invalid_values": 1}
        # the report printed a masked table; no raw number reached the logs
        assert "Blip notification run: 14 recipients" in out
        for raw in RAW_NUMBERS:
            assert raw not in out + err
        assert TEST_KEY not in out + err

    def test_router_and_list_run(self, dagbag, dag_emulator):
        conf = {"master_state": "subbot@msging.net", "list_name": "clientes-vip"}
        dag_run = dagbag.get_dag("blip_whatsapp_steps").test(run_conf=conf)
        assert str(dag_run.state) == "success", task_states(dag_run)
        assert_router_order_and_list_members(dag_emulator)
        # the list did not exist: Blip answered 101 and the operator created it, then added
        creations = [c for c in commands(dag_emulator, "set") if c["uri"] == "/lists"]
        assert creations
        assert creations[0]["resource"] == {"identity": "clientes-vip@broadcast.msging.net"}
        listed = rows_in(xcom(dag_run, "add_to_list"))
        assert sum(1 for r in listed if r["status"] == "added") == 11


def test_distribution_list_sync(dagbag, dag_emulator):
    dag_emulator.add_contacts(25, source="WhatsApp")
    stale = "5599900000001@wa.gw.msging.net"
    from airflow_provider_blip.hooks.blip import BlipHook
    from airflow_provider_blip.utils import lime

    hook = BlipHook()
    address = "clientes-whatsapp@broadcast.msging.net"
    hook.send_command(
        "set",
        "/lists",
        to=lime.POSTMASTER_BROADCAST,
        content_type="application/vnd.iris.distribution-list+json",
        resource={"identity": address},
    )
    hook.send_command(
        "set",
        lime.path("lists", address, "recipients"),
        to=lime.POSTMASTER_BROADCAST,
        content_type="application/vnd.lime.identity",
        resource=stale,
    )

    dag_run = dagbag.get_dag("blip_distribution_list_sync").test()
    assert str(dag_run.state) == "success", task_states(dag_run)
    members = set(
        hook.iter_collection(lime.path("lists", address, "recipients"), to=lime.POSTMASTER_BROADCAST)
    )
    assert stale not in members
    assert ROW2_ACCOUNT in members
    assert "554891110011@wa.gw.msging.net" in members  # DDD 48: legacy account, no ninth digit
    assert len(members) >= 25 + 3


def test_on_call_alert_notifier(dagbag, dag_emulator):
    dag_run = dagbag.get_dag("blip_on_call_alert").test(run_conf={"simulate_failure": True})
    assert str(dag_run.state) == "failed"
    sent = messages(dag_emulator)
    assert sorted(m["to"] for m in sent) == sorted(["5511987654321@wa.gw.msging.net", ROW2_ACCOUNT])
    body = sent[0]["content"]["template"]["components"][-1]["parameters"]
    assert body[0] == {"type": "text", "text": "blip_on_call_alert"}
    assert body[1] == {"type": "text", "text": "nightly_load"}


def rows_in(reference):
    """The rows a step of the step-by-step DAG wrote to its run file (XCom has the reference)."""
    from airflow_provider_blip.utils.runfiles import read_jsonl, storage_path

    return list(read_jsonl(storage_path(reference.get("results") or reference["delivery"])))
