"""One recipient through one step (verify, send, move in the flow): shared by every operator.

The thin operators run one step over a batch; ``BlipNotifyOperator`` (operators/notify.py)
runs all three per recipient so the steps overlap. Both call these functions, so a recipient
gets the same result row, with the same statuses, whichever path it took.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import (
    BlipConfigError,
    BlipError,
    BlipNotFoundError,
    InvalidValue,
    MissingValue,
)
from airflow_provider_blip.jobs.policy import FATAL_ERRORS, failure_fields
from airflow_provider_blip.utils.audience import Rejected
from airflow_provider_blip.utils.results import RecipientStatus, result
from airflow_provider_blip.utils.status import MessageStatus
from airflow_provider_blip.utils.templates import column_value, render_content

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow_provider_blip.hooks.blip import BlipHook
    from airflow_provider_blip.utils.audience import Recipient
    from airflow_provider_blip.utils.templates import TemplateSpec


def _status_of(exc: BlipError, status: RecipientStatus, retryable_status: RecipientStatus | None) -> str:
    # A failure the hook retried until it gave up (429, 5xx, no answer) is not final for a
    # caller that resumes: it gets `retryable_status` and its next try does it again.
    return (retryable_status if retryable_status is not None and exc.retryable else status).value


def verify(
    hook: BlipHook,
    item: Recipient | Rejected,
    required_columns: Sequence[str] | None,
    *,
    retryable_status: RecipientStatus | None = None,
) -> dict[str, Any]:
    """Look one audience row up on WhatsApp; return its result row (``verified`` or why not).

    :param retryable_status: the status of a lookup whose retries ran out (default
        ``lookup_failed``, final).
    """
    if isinstance(item, Rejected):
        return result(row=item.row, phone=item.raw_phone, status=item.status, reason=item.reason)
    missing = [c for c in required_columns or () if not str(column_value(item.values, c) or "").strip()]
    if missing:
        reason = f"row {item.row}: empty value in column(s) {', '.join(missing)}"
        return result(row=item.row, phone=item.phone, status=RecipientStatus.INVALID_VALUES, reason=reason)
    try:
        account = hook.get_whatsapp_account(item.phone)
    except FATAL_ERRORS:
        raise
    except BlipNotFoundError as exc:
        return result(
            row=item.row, phone=item.phone, status=RecipientStatus.NOT_ON_WHATSAPP, **failure_fields(exc)
        )
    except BlipError as exc:
        status = _status_of(exc, RecipientStatus.LOOKUP_FAILED, retryable_status)
        return result(row=item.row, phone=item.phone, status=status, **failure_fields(exc))
    if not account:
        reason = "Blip returned no alternativeAccount"
        return result(row=item.row, phone=item.phone, status=RecipientStatus.NOT_ON_WHATSAPP, reason=reason)
    return result(
        row=item.row, phone=item.phone, status=RecipientStatus.VERIFIED, account=account, values=item.values
    )


def render(record: dict[str, Any], spec: TemplateSpec) -> dict[str, Any] | str:
    """Return the template content for a verified row, or the reason it cannot be rendered."""
    try:
        return render_content(spec, record.get("values") or {})
    except (MissingValue, InvalidValue) as exc:
        return f"row {record.get('row')}: {exc}"


def send(
    hook: BlipHook,
    record: dict[str, Any],
    content: dict[str, Any],
    message_id: str,
    *,
    check_first: bool,
    retryable_status: RecipientStatus | None = None,
) -> dict[str, Any]:
    """Send the rendered template to a verified row's account under a deterministic id.

    :param check_first: ask Blip whether it already has ``message_id`` before sending (a
        retry that may have sent it before dying).
    :param retryable_status: the status when the hook's retries ran out (429, 5xx, no
        answer: after the last two Blip may hold the message anyway): ``unknown`` for callers
        that resolve it on their next try; default ``send_failed``.
    """
    try:
        hook.send_message(
            record["account"], "application/json", content, envelope_id=message_id, check_first=check_first
        )
    except FATAL_ERRORS:
        raise
    except BlipError as exc:
        status = _status_of(exc, RecipientStatus.SEND_FAILED, retryable_status)
        return {**record, "status": status, "message_id": message_id, **failure_fields(exc)}
    return {**record, "status": RecipientStatus.SENT.value, "message_id": message_id}


def context_writes(
    flow_id: str | None,
    state_id: str | None,
    master_state: str | None,
    variables: dict[str, Any] | None = None,
    delete: Sequence[str] | None = None,
) -> list[tuple[str, str | None]]:
    """Return the (variable, value) pairs to apply in order; value ``None`` deletes."""
    if bool(flow_id) != bool(state_id):
        raise BlipConfigError("flow_id and state_id go together: give both or neither")
    pairs: list[tuple[str, str | None]] = []
    if master_state:
        if "@" not in master_state:
            raise BlipConfigError(
                f"master_state must be a bot identity like 'sub@msging.net', got {master_state!r}"
            )
        pairs.append(("master-state", master_state))  # before the state (router bots)
    if flow_id and state_id:
        pairs.append((f"stateid@{flow_id}", state_id))
    pairs += [(name.lower(), str(value)) for name, value in (variables or {}).items()]
    pairs += [(name.lower(), None) for name in delete or ()]
    return pairs


def set_context(
    hook: BlipHook,
    record: dict[str, Any],
    pairs: list[tuple[str, str | None]],
    *,
    retryable_status: RecipientStatus | None = None,
) -> dict[str, Any]:
    """Apply the context writes to a row's account, in order; return its result row.

    :param retryable_status: the status when the hook's retries ran out (default
        ``context_failed``, final). Setting a context again is harmless.
    """
    identity = record["account"]
    try:
        for name, value in pairs:  # in order: master-state must land before the state
            if value is None:
                hook.delete_context(identity, name)
            else:
                hook.set_context(identity, name, value)
    except FATAL_ERRORS:
        raise
    except BlipError as exc:
        status = _status_of(exc, RecipientStatus.CONTEXT_FAILED, retryable_status)
        return {**record, "status": status, **failure_fields(exc)}
    return {**record, "status": RecipientStatus.CONTEXT_SET.value}


def add_to_list(add: Callable[[str], None], record: dict[str, Any]) -> dict[str, Any]:
    """Add a sent row's account to the job's list; the row keeps its status, ``list`` says how it went."""
    try:
        add(record["account"])
    except FATAL_ERRORS:
        raise
    except BlipError as exc:
        fields = failure_fields(exc)
        return {**record, "list": RecipientStatus.LIST_FAILED.value, "list_reason": fields["reason"]}
    return {**record, "list": RecipientStatus.ADDED.value}


def read_delivery(hook: BlipHook, record: dict[str, Any]) -> dict[str, Any]:
    """Read a sent message's status once; the row gets ``delivery`` (and ``delivery_reason``).

    A read that fails leaves the row as it was: the delivery wait reads it again later.
    """
    try:
        status, reason = hook.get_message_status(record["message_id"])
    except FATAL_ERRORS:
        raise
    except BlipError:
        return record
    if status is MessageStatus.UNKNOWN:
        return record
    row = {**record, "delivery": status.value}
    if reason is not None:
        row["delivery_reason"] = reason
    return row
