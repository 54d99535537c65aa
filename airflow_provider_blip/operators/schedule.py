"""Blip's scheduler: have Blip send a message at a set time, with no worker waiting for it.

``BlipScheduleMessageOperator`` hands a message to ``postmaster@scheduler.msging.net`` with a
``when`` in UTC; Blip sends it then (to an identity or a distribution list). Its id comes from
the job (the DAG, its logical date or ``campaign_key``, the task and the destination) and is
looked up before the schedule is made: a retry or a re-run of the same job schedules nothing
twice. ``BlipCancelScheduledMessageOperator`` cancels one.

.. seealso:: docs/campaigns.md
"""

from __future__ import annotations

import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.utils import lime
from airflow_provider_blip.utils.ids import command_id
from airflow_provider_blip.utils.jobs import job_key
from airflow_provider_blip.utils.templates import TEMPLATE_ARGS, render_content, spec_of

if TYPE_CHECKING:
    from airflow.sdk import Context


def parse_when(value: Any) -> datetime.datetime:
    """Read ``when``: an aware datetime, or ISO 8601 text with its offset.

    :raises BlipConfigError: a naive time or text that is not a time (the zone would be a guess).
    """
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BlipConfigError(f"when must be an ISO 8601 time with its offset, got {value!r}") from None
    if not isinstance(value, datetime.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise BlipConfigError("when must be a timezone-aware time, e.g. pendulum.datetime(..., tz=...)")
    return value


class BlipScheduleMessageOperator(BaseOperator):
    """Schedule one message with Blip's scheduler, once per job.

    The content is a template whose values are literals (``template_name``, ``body``...) or,
    without ``template_name``, the plain ``text``. Give ``to`` (an identity, e.g. the
    ``alternativeAccount`` of a lookup) or ``list_name`` (a distribution list).

    .. seealso:: docs/campaigns.md

    :param when: when Blip sends it: an aware datetime or ISO text with offset; sent as UTC;
        must be in the future. (templated)
    :param to: the destination identity. (templated)
    :param list_name: a distribution list instead of ``to``. (templated)
    :param template_name: the approved template; its values must be literals. (templated)
    :param text: a plain-text message instead of a template. (templated)
    :param name: the schedule's name in Blip's portal. (templated)
    :param campaign_key: the job's identity when the logical date is not it. (templated)
    :param blip_conn_id: the Blip connection. (templated)
    :return: ``{"message_id", "status", "when"}`` (no destination: it may be a phone number).
    """

    template_fields = (
        "when",
        "to",
        "list_name",
        "text",
        "name",
        "campaign_key",
        *TEMPLATE_ARGS,
        "blip_conn_id",
    )
    ui_color = "#C9F0FF"

    def __init__(
        self,
        *,
        when: Any,
        to: str | None = None,
        list_name: str | None = None,
        template_name: str | None = None,
        language: str = "pt_BR",
        body: list[Any] | None = None,
        text: str | None = None,
        name: str | None = None,
        campaign_key: str | None = None,
        blip_conn_id: str = BlipHook.default_conn_name,
        policy: str = "deterministic",
        namespace: str | None = None,
        header: dict[str, Any] | None = None,
        buttons: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.when = when
        self.to = to
        self.list_name = list_name
        self.template_name = template_name
        self.language = language
        self.policy = policy
        self.namespace = namespace
        self.header = header
        self.body = body
        self.body_columns: list[str] | None = None  # a schedule has no audience row to read
        self.buttons = buttons
        self.text = text
        self.name = name
        self.campaign_key = campaign_key
        self.blip_conn_id = blip_conn_id

    @cached_property
    def hook(self) -> BlipHook:
        """The task's hook (built on first use)."""
        return BlipHook(self.blip_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        when = parse_when(self.when)
        if when <= datetime.datetime.now(datetime.UTC):
            raise BlipConfigError(
                f"when ({when.isoformat()}) is not in the future: Blip would send it at once"
            )
        destination = self._destination()
        content_type, content = self._content()
        ti = context["ti"]
        message_id = command_id(
            "scheduled-message", ti.dag_id, job_key(context, self.campaign_key), ti.task_id, destination
        )
        schedule = self.hook.schedule_message(
            destination, content_type, content, when=when, message_id=message_id, name=self.name or None
        )
        self.log.info("Blip schedule %s: %s at %s", message_id, schedule.status.value, schedule.when or when)
        return {"message_id": message_id, "status": schedule.status.value, "when": schedule.when}

    def _destination(self) -> str:
        if bool(self.to) == bool(self.list_name):
            raise BlipConfigError("give to (an identity) or list_name (a distribution list), exactly one")
        return lime.list_identity(self.list_name) if self.list_name else str(self.to)

    def _content(self) -> tuple[str, Any]:
        if self.template_name:
            if self.text:
                raise BlipConfigError("give template_name or text, not both")
            return "application/json", render_content(spec_of(self), {})
        if not self.text:
            raise BlipConfigError("give template_name (with literal values) or text")
        return "text/plain", self.text


class BlipCancelScheduledMessageOperator(BaseOperator):
    """Cancel a message scheduled with :class:`BlipScheduleMessageOperator` (a missing one is fine).

    :param message_id: the schedule's id (the schedule operator's ``message_id``). (templated)
    :param blip_conn_id: the Blip connection. (templated)
    :return: the schedule's status after the cancel, or ``None`` when Blip has none.
    """

    template_fields = ("message_id", "blip_conn_id")
    ui_color = "#C9F0FF"

    def __init__(
        self, *, message_id: str, blip_conn_id: str = BlipHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.message_id = message_id
        self.blip_conn_id = blip_conn_id

    def execute(self, context: Context) -> str | None:
        hook = BlipHook(self.blip_conn_id)
        hook.cancel_schedule(self.message_id)
        schedule = hook.get_schedule(self.message_id)
        return None if schedule is None else schedule.status.value
