"""No example DAG lets a full phone number out: not in a task's log, XCom or rendered fields.

Every example DAG runs end to end against the emulator (``dag.test()`` in the session's
throwaway Airflow home). Then everything Airflow would show a user is searched for every
number of the audience, written every way (``+55...``, ``55...``, the national number, the
raw cell, the WhatsApp account ``55...@wa.gw.msging.net`` and its legacy form without the
ninth digit): the task logs (``dag.test()`` writes them to the console; files too, if a
handler writes any), every XCom value and every task's rendered template fields. Masked
forms (``+5511*****4321``) are what the logs may show.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import DAGS_FOLDER
from tests.dags.conftest import task_states

pytestmark = pytest.mark.dag

ACCOUNT_DOMAIN = "@wa.gw.msging.net"


@dataclasses.dataclass(frozen=True)
class Case:
    """One example DAG run and what it must show.

    :param logged: a line one of its tasks logs: proof that the task logs were searched.
    :param contacts: WhatsApp contacts the survey finds at the emulator.
    """

    dag_id: str
    logged: str
    conf: dict = dataclasses.field(default_factory=dict)
    state: str = "success"
    contacts: int = 0


# Each DAG with every step switched on (the router, the list, the guard), so every task runs.
EVERY_STEP = {"master_state": "subbot@msging.net", "list_name": "clientes-vip"}
CASES = [
    Case(
        "blip_whatsapp_notifications", "Blip notify, chunk 0", {**EVERY_STEP, "skip_if_sent_within_hours": 24}
    ),
    Case("blip_whatsapp_steps", "Blip verify:", EVERY_STEP),
    Case("blip_whatsapp_campaign", "Blip campaign: ", {"master_state": "subbot@msging.net"}),
    Case("blip_distribution_list_sync", "List clientes-whatsapp@broadcast.msging.net:", contacts=25),
    Case("blip_hello_whatsapp", "is on WhatsApp as"),
    Case("blip_on_call_alert", "Blip alert sent to", {"simulate_failure": True}, state="failed"),
]


def number_forms(raw: str) -> set[str]:
    """Every way a number may be written that shows it whole (none of them masked)."""
    from airflow_provider_blip.exceptions import InvalidPhoneNumber
    from airflow_provider_blip.utils.phone import parse_phone

    forms = set()
    digits = re.sub(r"\D", "", raw)
    if len(digits) >= 8:
        forms |= {raw.strip(), digits}
    try:
        e164 = parse_phone(raw)
    except InvalidPhoneNumber:
        return forms
    full = e164[1:]
    forms |= {e164, full, full + ACCOUNT_DOMAIN}
    if full.startswith("55") and len(full) == 13 and full[4] == "9":
        legacy = full[:4] + full[5:]  # the account Blip may return for an older line
        forms |= {legacy, legacy + ACCOUNT_DOMAIN}
    if full.startswith("55"):
        forms.add(full[2:])  # the national number, DDD first
    return forms


def audience_numbers(dagbag) -> set[str]:
    """The forms of every number the example DAGs carry: data files, params, on-call lists."""
    from airflow_provider_blip.notifications.blip import BlipNotifier

    raws = []
    for path in (DAGS_FOLDER / "data").glob("*.csv"):
        with open(path, newline="", encoding="utf-8") as source:
            raws += [row["phone"] for row in csv.DictReader(source)]
    for dag in dagbag.dags.values():
        raws += [str(param) for name, param in dag.params.items() if "phone" in name and dag.params[name]]
        for task in dag.tasks:
            callbacks = task.on_failure_callback or []
            for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
                if isinstance(callback, BlipNotifier):
                    raws += list(callback.to)
    return {form for raw in raws for form in number_forms(raw)}


def emulator_identities(emulator, seeded: list[str]) -> set[str]:
    """Every WhatsApp identity the run touched at the emulator, with its bare and + forms."""
    identities = set(seeded)
    for record in emulator.records():
        envelope = record.envelope or {}
        for value in (envelope.get("to"), envelope.get("resource")):
            if isinstance(value, str) and value.endswith(ACCOUNT_DOMAIN):
                identities.add(value)
    local = {identity.split("@", 1)[0] for identity in identities}
    return identities | local | {"+" + part for part in local}


def what_airflow_shows(dag_run, logs: str) -> dict[str, str]:
    """The texts a user of this run can read: logs, XCom values, rendered template fields."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    shown = {"logs": logs}
    home = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    for path in home.rglob("*") if home.is_dir() else ():
        if path.is_file():
            shown[f"log file {path.relative_to(home)}"] = path.read_text(errors="replace")
    with create_session() as session:
        query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id)
        for row in session.scalars(query):
            value = XComModel.deserialize_value(row)
            where = f"XCom {row.task_id}[{row.map_index}] {row.key}"
            shown[where] = json.dumps(value, default=str, ensure_ascii=False)
        fields = session.query(RenderedTaskInstanceFields).filter_by(
            dag_id=dag_run.dag_id, run_id=dag_run.run_id
        )
        for rendered in fields:
            where = f"rendered fields {rendered.task_id}[{rendered.map_index}]"
            shown[where] = json.dumps(rendered.rendered_fields, default=str, ensure_ascii=False)
    return shown


def readable_by_others(root: Path) -> list[str]:
    """Run files another local user could read: no owner-only file or folder on their way."""
    exposed = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        way = [path, *(p for p in path.parents if p == root or root in p.parents)]
        if all(stat.S_IMODE(p.stat().st_mode) & 0o077 for p in way):
            exposed.append(str(path.relative_to(root)))
    return exposed


@pytest.mark.parametrize("case", CASES, ids=[c.dag_id for c in CASES])
def test_no_full_number_in_logs_xcom_or_rendered_fields(
    case, dagbag, dag_emulator, capfd, caplog, tmp_path, monkeypatch
):
    runs = tmp_path / "runs"
    monkeypatch.setenv("AIRFLOW_PROVIDER_BLIP_RUNS_PATH", str(runs))
    seeded = dag_emulator.add_contacts(case.contacts, source="WhatsApp") if case.contacts else []

    dag_run = dagbag.get_dag(case.dag_id).test(run_conf=case.conf)
    out, err = capfd.readouterr()
    assert str(dag_run.state) == case.state, task_states(dag_run)
    if case.state == "success":
        assert all(state in ("success", "skipped") for state in task_states(dag_run).values())
    sent = dag_emulator.records("messages") or dag_emulator.campaigns()  # Blip sends a campaign's
    assert sent or case.dag_id == "blip_distribution_list_sync", "it did send"

    logs = "\n".join([out, err, *(record.getMessage() for record in caplog.records)])
    assert case.logged in logs, "the task logs were captured"
    forbidden = audience_numbers(dagbag) | emulator_identities(dag_emulator, seeded)
    leaks = sorted(
        f"{where}: {form}"
        for where, text in what_airflow_shows(dag_run, logs).items()
        for form in forbidden
        if form in text
    )
    assert not leaks, "\n".join(leaks)
    if not runs.exists():
        return
    assert not readable_by_others(runs)

    # Retention on the layout this run really wrote: a week later its files go, the ledger stays.
    from airflow_provider_blip.utils.retention import clean_runs

    clean_runs(runs, dag_ids=[case.dag_id], now=datetime.now(UTC) + timedelta(days=8))
    left = [p.relative_to(runs) for p in runs.rglob("*") if p.is_file()]
    assert all(path.parts[1] == "ledger" for path in left), left
    assert bool(left) == bool(case.conf.get("skip_if_sent_within_hours")), "the guard's ledger stays"


def test_every_example_dag_is_searched(dagbag):
    assert {case.dag_id for case in CASES} == set(dagbag.dag_ids)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "(31) 98888-7777",
            {"(31) 98888-7777", "31988887777", "+5531988887777", "5531988887777", "553188887777"},
        ),
        (
            "+5511987654321",
            {"+5511987654321", "5511987654321", "5511987654321@wa.gw.msging.net", "11987654321"},
        ),
        ("12345", set()),
    ],
)
def test_the_search_covers_each_way_a_number_is_written(raw, expected):
    forms = number_forms(raw)
    assert expected <= forms
    from airflow_provider_blip.utils.privacy import mask_phone

    assert not any(form in mask_phone(raw) for form in forms), "the masked form is allowed"
