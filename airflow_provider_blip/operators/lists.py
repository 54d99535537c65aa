"""Operators for Blip distribution lists and the WhatsApp contact survey (docs/blip-api-facts.md §6, §7)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_blip.exceptions import (
    BlipCommandError,
    BlipConfigError,
    BlipError,
    BlipNotFoundError,
    BlipPagingLimitError,
)
from airflow_provider_blip.operators import _steps as steps
from airflow_provider_blip.operators._batch import (
    FATAL_ERRORS,
    BlipBatchOperator,
    as_records,
    failure_fields,
    is_reachable,
)
from airflow_provider_blip.utils import lime
from airflow_provider_blip.utils.concurrency import bounded_map
from airflow_provider_blip.utils.ids import task_message_id
from airflow_provider_blip.utils.results import RecipientStatus
from airflow_provider_blip.utils.templates import literal_content

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pendulum
    from airflow.sdk import Context

    from airflow_provider_blip.hooks.blip import BlipHook

Action = Literal["create", "delete", "add", "remove", "sync", "members", "send_template"]
ACTIONS = ("create", "delete", "add", "remove", "sync", "members", "send_template")

LIST_TYPE = lime.LIST_TYPE
IDENTITY_TYPE = lime.IDENTITY_TYPE
REASON_LIST_MISSING = lime.REASON_LIST_MISSING
REASON_NOT_A_MEMBER = lime.REASON_NOT_A_MEMBER


class BlipDistributionListOperator(BlipBatchOperator):
    """Manage a Blip distribution list: create, delete, add or remove recipients, sync, read, send.

    ``add`` creates the list when Blip answers that it is missing (reason 101) and retries;
    ``remove`` treats "not a member" (64) and "no such list" (101) as already removed;
    ``sync`` adds the missing recipients and removes the members that should not be there.

    .. seealso:: docs/operators/distribution_list.md

    :param list_name: the list's name or address (``name@broadcast.msging.net``). (templated)
    :param action: ``create``, ``delete``, ``add``, ``remove``, ``sync``, ``members`` or
        ``send_template``.
    :param recipients: for ``add``, ``remove`` and ``sync``: result rows of an upstream Blip
        task (rows with an account and no failure) or WhatsApp identities. (templated)
    :param template_name: for ``send_template``: the approved template. (templated)
    :param language: for ``send_template``. (templated)
    :param body: for ``send_template``: literal body values; ``${contact.name}`` and
        ``${contact.extras.key}`` are replaced per member by Blip. (templated)
    :param page_size: members read per page.
    :return: ``add``/``remove``/``sync``: one result row per recipient (``added``,
        ``removed``, ``list_failed``...); ``members``: the member identities;
        ``create``/``delete``: ``{"list": address}``; ``send_template``: ``{"list", "message_id"}``.
    """

    template_fields = (
        *BlipBatchOperator.template_fields,
        "list_name",
        "recipients",
        "template_name",
        "language",
        "body",
    )

    def __init__(
        self,
        *,
        list_name: str,
        action: Action,
        recipients: Any = None,
        template_name: str | None = None,
        language: str = "pt_BR",
        body: list[str | dict[str, str]] | None = None,
        page_size: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if action not in ACTIONS:
            raise BlipConfigError(f"action must be one of {ACTIONS}, got {action!r}")
        if action == "send_template" and not template_name:
            raise BlipConfigError("action 'send_template' needs template_name")
        self.list_name = list_name
        self.action = action
        self.step = f"list {action}"
        self.recipients = recipients
        self.template_name = template_name
        self.language = language
        self.body = body
        self.page_size = page_size

    @property
    def address(self) -> str:
        """The list's address, ``name@broadcast.msging.net``."""
        return lime.list_identity(self.list_name)

    def execute(self, context: Context) -> Any:
        if self.action == "create":
            self.create()
            return {"list": self.address}
        if self.action == "delete":
            self._ignore(
                lambda: self.hook.send_command(
                    "delete", lime.path("lists", self.address), to=lime.POSTMASTER_BROADCAST
                ),
                REASON_LIST_MISSING,
            )
            return {"list": self.address}
        if self.action == "members":
            return list(members(self.hook, self.address, page_size=self.page_size))
        if self.action == "send_template":
            return self.send_template(context)
        records = as_records(self.recipients)
        if self.action == "sync":
            return self.finish(self.sync(records))
        return self.run_each(records, self._add if self.action == "add" else self._remove, is_reachable)

    @cached_property
    def adder(self) -> steps.ListAdder:
        """Adds members, creating the list once if Blip says it is missing."""
        return steps.ListAdder(self.hook, self.list_name)

    def create(self) -> None:
        """Create the list; a list that already exists is fine."""
        self.adder.create()

    def sync(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Make the list hold exactly the reachable recipients; report adds and removals."""
        wanted = {r["account"] for r in records if is_reachable(r)}
        if not wanted:
            # An empty upstream (a failed survey, an empty file) must not wipe a live list.
            raise BlipConfigError(
                f"sync of {self.address}: no reachable recipient, which would remove every member; "
                "use action='remove' to empty a list on purpose"
            )
        self.create()
        current = set(members(self.hook, self.address, page_size=self.page_size))
        adds = [r for r in records if is_reachable(r) and r["account"] not in current]
        extra = [
            {"row": 0, "phone": "", "account": a, "status": "verified"} for a in sorted(current - wanted)
        ]
        workers = self.hook.config.concurrency
        results = list(bounded_map(self._add, adds, workers=workers))
        results += list(bounded_map(self._remove, extra, workers=workers))
        unchanged = len(wanted & current)
        self.log.info(
            "List %s: %d already members, %d added, %d removed",
            self.address,
            unchanged,
            len(adds),
            len(extra),
        )
        return results

    def _add(self, record: dict[str, Any]) -> dict[str, Any]:
        try:
            self.adder(record["account"])
        except FATAL_ERRORS:
            raise
        except BlipError as exc:
            return {**record, "status": RecipientStatus.LIST_FAILED.value, **failure_fields(exc)}
        return {**record, "status": RecipientStatus.ADDED.value}

    def _remove(self, record: dict[str, Any]) -> dict[str, Any]:
        uri = lime.path("lists", self.address, "recipients", record["account"])
        try:
            self._ignore(
                lambda: self.hook.send_command("delete", uri, to=lime.POSTMASTER_BROADCAST),
                REASON_NOT_A_MEMBER,
                REASON_LIST_MISSING,
            )
        except FATAL_ERRORS:
            raise
        except BlipError as exc:
            return {**record, "status": RecipientStatus.LIST_FAILED.value, **failure_fields(exc)}
        return {**record, "status": RecipientStatus.REMOVED.value}

    @staticmethod
    def _ignore(call: Any, *codes: int) -> None:
        try:
            call()
        except BlipCommandError as exc:
            if exc.code not in codes and not isinstance(exc, BlipNotFoundError):
                raise

    def send_template(self, context: Context) -> dict[str, Any]:
        """Send one template message to the whole list; Blip fans it out to every member.

        The id is deterministic per task instance: a retry finds the message Blip already has
        (by its notifications) and does not send to the whole list again.
        """
        template_name = self.template_name or ""
        content = literal_content(template_name=template_name, language=self.language, body=self.body)
        ti = context["ti"]
        mid = task_message_id(ti, recipient=self.address, template=template_name)
        self.hook.send_message(
            self.address,
            "application/json",
            content,
            envelope_id=mid,
            metadata={"#message.replaceVariables": "true"},
            check_first=ti.try_number > 1,
        )
        return {"list": self.address, "message_id": mid}


def members(hook: BlipHook, address: str, *, page_size: int = 1000) -> Iterator[str]:
    """Yield every member identity of a list, page by page."""
    uri = lime.path("lists", address, "recipients")
    for item in hook.iter_collection(uri, to=lime.POSTMASTER_BROADCAST, page_size=page_size):
        yield item if isinstance(item, str) else item.get("identity", "")


def survey_filter(
    source: str, start: pendulum.DateTime | None = None, end: pendulum.DateTime | None = None
) -> str:
    """Build the OData filter of the contact survey, optionally within a lastmessagedate window."""
    parts = [f"(substringof('{source}',source))"]
    if start is not None:
        parts.append(f"(lastmessagedate ge datetimeoffset'{start.isoformat()}')")
    if end is not None:
        parts.append(f"(lastmessagedate lt datetimeoffset'{end.isoformat()}')")
    return " and ".join(parts)


def survey_contacts(
    hook: BlipHook,
    *,
    source: str = "WhatsApp",
    since: pendulum.DateTime,
    until: pendulum.DateTime,
    page_size: int = 10_000,
) -> Iterator[dict[str, Any]]:
    """Yield every contact whose source matches, beyond Blip's 10,000 limit on filtered paging.

    The source filter alone is tried first. When it matches more than 10,000 contacts, the
    ``lastmessagedate`` range ``[since, until)`` is read in windows, and a window that still
    holds more than 10,000 is split in two and read again (docs/blip-api-facts.md §6). Contacts with no
    ``lastmessagedate`` are only found by the first, unwindowed query.
    """
    uri = lime.with_query("/contacts", {"$filter": survey_filter(source)})
    try:
        yield from list(hook.iter_collection(uri, to=lime.POSTMASTER_CRM, page_size=page_size))
        return
    except BlipPagingLimitError:
        pass
    windows = [(since, until)]
    while windows:
        start, end = windows.pop()
        uri = lime.with_query("/contacts", {"$filter": survey_filter(source, start, end)})
        try:
            page = list(hook.iter_collection(uri, to=lime.POSTMASTER_CRM, page_size=page_size))
        except BlipPagingLimitError:
            if (end - start).total_seconds() < 1:
                raise
            middle = start + (end - start) / 2
            windows += [(middle, end), (start, middle)]
            continue
        yield from page


class BlipContactSurveyOperator(BlipBatchOperator):
    """List every contact that reached the bot on a channel (WhatsApp by default).

    Pages through ``/contacts`` with ``$filter=(substringof('WhatsApp',source))`` as the
    help-centre article does, splitting the ``lastmessagedate`` range into windows so that
    more than 10,000 contacts are read in full.

    .. seealso:: docs/operators/distribution_list.md

    :param source: the contact source to survey. (templated)
    :param since: earliest ``lastmessagedate`` (ISO date); default 2000-01-01. (templated)
    :return: result rows ``{"row", "phone", "account", "status": "verified"}`` ready for
        :class:`BlipDistributionListOperator` (``phone`` is the number of the identity).
    """

    template_fields = (*BlipBatchOperator.template_fields, "source", "since")
    step = "survey"

    def __init__(self, *, source: str = "WhatsApp", since: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.since = since

    def execute(self, context: Context) -> list[dict[str, Any]]:
        # Imported here, not at module level: `import pendulum` loads pendulum.parser (~45-54 ms),
        # which parsing a DAG file should not pay for an operator that has not run.
        import pendulum

        since = pendulum.parse(self.since or "2000-01-01T00:00:00Z")
        if not isinstance(since, pendulum.DateTime):
            raise BlipConfigError(f"since must be a date or date-time, got {self.since!r}")
        until = pendulum.now("UTC").add(days=1)
        seen: set[str] = set()
        results: list[dict[str, Any]] = []
        for contact in survey_contacts(self.hook, source=self.source, since=since, until=until):
            identity = contact.get("identity")
            if identity and identity not in seen:  # windows may overlap at their edges
                seen.add(identity)
                phone = "+" + identity.split("@", 1)[0] if identity.split("@")[0].isdigit() else ""
                results.append(
                    {"row": len(results) + 1, "phone": phone, "account": identity, "status": "verified"}
                )
        return self.finish(results)
