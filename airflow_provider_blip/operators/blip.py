"""Operators for Blip's WhatsApp notification job: verify, send a template, move in the flow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.jobs import steps
from airflow_provider_blip.jobs.policy import as_records, is_reachable
from airflow_provider_blip.jobs.registry import checked_spec
from airflow_provider_blip.operators._batch import BlipBatchOperator
from airflow_provider_blip.utils.audience import parse_audience
from airflow_provider_blip.utils.concurrency import bounded_map
from airflow_provider_blip.utils.ids import task_message_id
from airflow_provider_blip.utils.results import RecipientStatus
from airflow_provider_blip.utils.templates import TEMPLATE_ARGS, spec_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_blip.utils.audience import Recipient, Rejected
    from airflow_provider_blip.utils.templates import TemplateSpec


class BlipVerifyContactOperator(BlipBatchOperator):
    """Look up every number of an audience on WhatsApp and keep the account Blip returns.

    Blip asks for a lookup before every send (WhatsApp keeps validity for 7 days), and the
    ``alternativeAccount`` it returns can differ from the number (the Brazilian ninth digit):
    later steps must use that account. Each valid number is looked up once per run; invalid
    numbers, duplicates and rows missing a ``required_columns`` value are reported and never
    looked up (looking up numbers you will not message risks a WhatsApp ban).

    .. seealso:: docs/operators/verify.md

    :param audience: rows with a phone number and template values: a list of dicts (e.g. an
        upstream task's output), or the path or URL of a CSV file (``file://``, ``s3://``...).
        (templated)
    :param phone_column: the column holding the phone number.
    :param default_region: region for numbers written without country code. (templated)
    :param required_columns: columns that must be non-empty for a row to be worth a lookup,
        typically the template's value columns. (templated)
    :return: one result row per audience row, in order: ``row``, ``phone`` (E.164),
        ``status`` (``verified``, ``invalid_number``, ``duplicate``, ``invalid_values``,
        ``not_on_whatsapp``, ``lookup_failed``), ``account``, ``values``, ``reason``, ``code``.
    """

    template_fields = (*BlipBatchOperator.template_fields, "audience", "default_region", "required_columns")
    step = "verify"

    def __init__(
        self,
        *,
        audience: Any,
        phone_column: str = "phone",
        default_region: str = "BR",
        required_columns: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.audience = audience
        self.phone_column = phone_column
        self.default_region = default_region
        self.required_columns = required_columns

    def execute(self, context: Context) -> list[dict[str, Any]]:
        if isinstance(self.required_columns, str):
            raise BlipConfigError(
                f"required_columns must be a list of column names, got the string {self.required_columns!r}"
            )
        rows = parse_audience(
            self.audience, phone_column=self.phone_column, default_region=self.default_region
        )
        workers = self.hook.config.concurrency
        return self.finish(list(bounded_map(self._verify, rows, workers=workers)))

    def _verify(self, item: Recipient | Rejected) -> dict[str, Any]:
        return steps.verify(self.hook, item, self.required_columns)


class BlipSendTemplateOperator(BlipBatchOperator):
    """Send an approved WhatsApp template to every verified recipient.

    Values come per recipient from audience columns (``body_columns``, ``{"column": ...}``
    entries) or as templated literals. Every row is rendered and validated before it is
    sent; a row missing a value fails alone (``invalid_values``). Message ids are
    deterministic per (dag, run, task, map index, recipient, template): on a task retry,
    recipients whose message Blip already has are not sent again.

    .. seealso:: docs/operators/send_template.md

    :param recipients: result rows of :class:`BlipVerifyContactOperator` (only ``verified``
        rows are sent; the others pass through unchanged), or WhatsApp identities. (templated)
    :param template_name: the approved template's name. (templated)
    :param language: its language code, e.g. ``pt_BR``. (templated)
    :param policy: the language policy. (templated)
    :param namespace: the template namespace, for older on-premise numbers. Optional. (templated)
    :param header: ``{"type": "text"|"image"|"video"|"document", ...}``. Optional. (templated)
    :param body: body parameters in order (``{{1}}``, ``{{2}}``...): literals or
        ``{"column": name}``. (templated)
    :param body_columns: shorthand for ``body``: the columns that fill ``{{1}}``, ``{{2}}``... (templated)
    :param buttons: quick-reply payloads and URL suffixes. Optional. (templated)
    :param check_template: before any send, check the template against the bot's approved
        templates (exists in that language, APPROVED, parameters match); ``False`` for a key
        that cannot read the registry.
    :param fail_on_recategorized: fail, instead of warning, when Meta re-categorised the template.
    :return: the result rows, sent ones with ``status`` ``sent`` and their ``message_id``.
    """

    template_fields = (
        *BlipBatchOperator.template_fields,
        "recipients",
        *TEMPLATE_ARGS,
    )
    step = "send"

    def __init__(
        self,
        *,
        recipients: Any,
        template_name: str,
        language: str = "pt_BR",
        policy: str = "deterministic",
        namespace: str | None = None,
        header: dict[str, Any] | None = None,
        body: list[Any] | None = None,
        body_columns: list[str] | str | None = None,  # str: a Jinja template rendering to a list
        buttons: list[dict[str, Any]] | None = None,
        check_template: bool = True,
        fail_on_recategorized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.recipients = recipients
        self.check_template = check_template
        self.fail_on_recategorized = fail_on_recategorized
        self.template_name = template_name
        self.language = language
        self.policy = policy
        self.namespace = namespace
        self.header = header
        self.body = body
        self.body_columns = body_columns
        self.buttons = buttons

    def spec(self) -> TemplateSpec:
        """Build and validate the template from the rendered arguments."""
        return spec_of(self)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        spec = checked_spec(
            self,
            self.hook,
            self.spec(),
            enabled=self.check_template,
            fail_on_recategorized=self.fail_on_recategorized,
        )
        ti = context["ti"]
        return self.run_each(
            as_records(self.recipients),
            lambda record: self._send(record, spec, ti),
            lambda record: record.get("status") == RecipientStatus.VERIFIED,
        )

    def _send(self, record: dict[str, Any], spec: TemplateSpec, ti: Any) -> dict[str, Any]:
        content = steps.render(record, spec)
        if isinstance(content, str):
            return {**record, "status": RecipientStatus.INVALID_VALUES.value, "reason": content}
        mid = task_message_id(ti, recipient=record["account"], template=spec.name)
        # A retry of this task re-derives the same ids: what Blip already has is not resent.
        return steps.send(self.hook, record, content, mid, check_first=ti.try_number > 1)


class BlipSetContextOperator(BlipBatchOperator):
    """Set (or delete) context variables of each recipient: above all, where the bot's flow resumes.

    ``flow_id`` + ``state_id`` set ``stateid@{flow_id}``, the block the user lands in. For a
    bot behind a router, ``master_state`` (the sub-bot, ``{id}@msging.net``) is set first, as
    Blip requires; use the router's key in the connection.

    .. seealso:: docs/operators/set_context.md

    :param recipients: result rows of an upstream Blip task (rows with an account and no
        failure are moved), or WhatsApp identities. (templated)
    :param flow_id: the Builder flow id ("Flow Identifier" in the Builder settings). (templated)
    :param state_id: the block id the user should go to. (templated)
    :param master_state: the router's sub-bot, e.g. ``mysubbot@msging.net``. Optional. (templated)
    :param variables: more context variables to set, name -> value (names are stored
        lowercase, as the Builder does). (templated)
    :param delete: context variables to delete (a missing one is fine). (templated)
    :return: the result rows; moved ones with ``status`` ``context_set``.
    """

    template_fields = (
        *BlipBatchOperator.template_fields,
        "recipients",
        "flow_id",
        "state_id",
        "master_state",
        "variables",
        "delete",
    )
    step = "set_context"

    def __init__(
        self,
        *,
        recipients: Any,
        flow_id: str | None = None,
        state_id: str | None = None,
        master_state: str | None = None,
        variables: dict[str, str] | None = None,
        delete: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.recipients = recipients
        self.flow_id = flow_id
        self.state_id = state_id
        self.master_state = master_state
        self.variables = variables
        self.delete = delete

    def writes(self) -> list[tuple[str, str | None]]:
        """Return the (variable, value) pairs to apply in order; value ``None`` deletes."""
        pairs = steps.context_writes(
            self.flow_id, self.state_id, self.master_state, self.variables, self.delete
        )
        if not pairs:
            raise BlipConfigError(
                "nothing to do: give flow_id and state_id, master_state, variables or delete"
            )
        return pairs

    def execute(self, context: Context) -> list[dict[str, Any]]:
        pairs = self.writes()
        return self.run_each(as_records(self.recipients), lambda r: self._apply(r, pairs), is_reachable)

    def _apply(self, record: dict[str, Any], pairs: list[tuple[str, str | None]]) -> dict[str, Any]:
        return steps.set_context(self.hook, record, pairs)
