from __future__ import annotations

import datetime
import pathlib
import subprocess
import sys
import uuid

import pytest

from airflow_provider_blip.utils.ids import NAMESPACE, command_id, message_id

FIELDS = {
    "dag_id": "notify",
    "run_id": "manual__2026-01-01T00:00:00+00:00",
    "task_id": "send",
    "map_index": -1,
    "recipient": "+5531988887777",
    "template": "pedido_confirmado",
}

# Computed once when the scheme was written. If this changes, every retry across the change
# would send duplicate messages: change the scheme only on purpose.
KNOWN_MESSAGE_ID = "8f321dce-7c67-5780-9bce-0e3a3707ca4f"
KNOWN_COMMAND_ID = "ddde3914-68a5-5ef9-93b0-aa172e5242af"


def test_known_values():
    assert message_id(**FIELDS) == KNOWN_MESSAGE_ID
    assert command_id("notify", "run", "verify", -1, "+5531988887777") == KNOWN_COMMAND_ID


def test_is_a_version_5_uuid_in_the_project_namespace():
    value = uuid.UUID(message_id(**FIELDS))
    assert value.version == 5
    assert str(value) == message_id(**FIELDS)
    assert NAMESPACE == uuid.UUID("df5dd5e4-0322-413e-b71a-d3e7965cd71c")


def test_stable_across_calls_and_processes():
    assert message_id(**FIELDS) == message_id(**dict(FIELDS))
    code = (
        "from airflow_provider_blip.utils.ids import message_id, command_id;"
        f"print(message_id(**{FIELDS!r}));print(command_id('a', 1, None))"
    )
    # A fresh interpreter with another hash seed: nothing may depend on hash() or dict order.
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=pathlib.Path(__file__).parents[2],
    ).stdout.split()
    assert out == [KNOWN_MESSAGE_ID, command_id("a", 1, None)]


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("dag_id", "notify2"),
        ("run_id", "manual__2026-01-02T00:00:00+00:00"),
        ("task_id", "send_2"),
        ("map_index", 0),
        ("map_index", 1),
        ("recipient", "+5531988887778"),
        ("template", "pedido_enviado"),
    ],
)
def test_any_field_changes_the_id(field, other):
    assert message_id(**{**FIELDS, field: other}) != message_id(**FIELDS)


def test_no_collision_when_text_moves_between_fields():
    a = message_id(**{**FIELDS, "dag_id": "a|b", "run_id": "c"})
    b = message_id(**{**FIELDS, "dag_id": "a", "run_id": "b|c"})
    assert a != b


def test_map_index_int_and_string_differ():
    assert message_id(**{**FIELDS, "map_index": 1}) != message_id(**{**FIELDS, "map_index": "1"})  # type: ignore[arg-type]


def test_all_distinct_over_many_recipients():
    ids = {message_id(**{**FIELDS, "recipient": f"+55319{n:08d}"}) for n in range(10_000)}
    assert len(ids) == 10_000


def test_command_id_is_deterministic_and_distinct():
    assert command_id("set", "/contexts/x/y") == command_id("set", "/contexts/x/y")
    assert command_id("set", "/contexts/x/y") != command_id("set", "/contexts/x/z")
    assert command_id("a", "b") != command_id("ab")
    assert command_id("a", "b") != command_id("a|b")
    assert command_id(1) != command_id("1")
    assert command_id(True) != command_id(1)
    assert command_id() == command_id()
    uuid.UUID(command_id("x"))


def test_command_and_message_ids_never_meet():
    fields = list(FIELDS.values())
    assert command_id(*fields) != message_id(**FIELDS)
    assert command_id("message", *fields) != message_id(**FIELDS)


def test_command_id_takes_dates_by_their_text():
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    assert command_id(when) == command_id(when.replace())
    assert command_id(when) != command_id(when + datetime.timedelta(seconds=1))
