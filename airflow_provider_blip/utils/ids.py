"""Deterministic envelope ids, so that a retried task sends the same ids again (no I/O).

Blip reports a message's delivery by its id (docs/blip-api-facts.md §8). If a task retry gave a message
a new id, a message sent before the crash could not be told apart from a second copy; with
ids derived from what identifies the send, the retry reuses them and the sensor tracks one
message. The ids are UUIDs, as Blip asks (docs/blip-api-facts.md §2).

Changing :data:`NAMESPACE` or the canonical form below changes every id: a retry across such
a change would send duplicates, so treat both as frozen.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

#: Namespace of every id this provider derives (a random UUID, drawn once for this project).
NAMESPACE = uuid.UUID("df5dd5e4-0322-413e-b71a-d3e7965cd71c")


def _canonical(value: object) -> str:
    # JSON keeps types and boundaries apart: ("a|b", "c") and ("a", "b|c") or -1 and "-1"
    # would collide in a "|"-joined string, not here. Sorted keys, no spaces: one spelling only.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def message_id(
    *, dag_id: str, run_id: str, task_id: str, map_index: int, recipient: str, template: str
) -> str:
    """Return the id of the message a task instance sends to one recipient.

    The same task instance (any try) gets the same id for the same recipient and template;
    any other run, task, mapped index (``-1`` for an unmapped task is not ``0``), recipient
    or template gets another.

    :param recipient: the E.164 number or identity the message goes to.
    :param template: the template name (with language, if the caller wants both to count).
    """
    fields = {
        "kind": "message",
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "recipient": recipient,
        "template": template,
    }
    return str(uuid.uuid5(NAMESPACE, _canonical(fields)))


def job_message_id(*, dag_id: str, job: str, task_id: str, recipient: str, template: str) -> str:
    """Return the id of the message a notification job sends to one recipient.

    Unlike :func:`message_id` it does not depend on the Airflow run: every re-run of the same
    job (see :mod:`airflow_provider_blip.utils.jobs`) derives the same id, so a message Blip
    already has is recognised whatever way the job was run again.

    :param job: the job key.
    :param recipient: the WhatsApp account the message goes to.
    :param template: the template name.
    """
    fields = {
        "kind": "job-message",
        "dag_id": dag_id,
        "job": job,
        "task_id": task_id,
        "recipient": recipient,
        "template": template,
    }
    return str(uuid.uuid5(NAMESPACE, _canonical(fields)))


def task_message_id(ti: Any, *, recipient: str, template: str) -> str:
    """Return :func:`message_id` for the running task instance ``ti`` (any try, same id)."""
    return message_id(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=-1 if ti.map_index is None else ti.map_index,
        recipient=recipient,
        template=template,
    )


def command_id(*parts: object) -> str:
    """Return a deterministic command id derived from ``parts`` (same parts, same id).

    :param parts: JSON-able values that identify the command, e.g. the task instance fields,
        the method and the URI; other objects count by their ``str()``, so pass only objects
        whose text is stable across processes (dates yes, objects showing an address no).
    """
    return str(uuid.uuid5(NAMESPACE, _canonical(["command", *parts])))
