"""Operators for Blip distribution lists and the WhatsApp contact survey (docs/blip-api-facts.md §6, §7).

One operator per list action, each with one XCom shape:

=============================  =================================================
``BlipCreateListOperator``     ``{"list": address}``
``BlipDeleteListOperator``     ``{"list": address}``
``BlipAddToListOperator``      one result row per recipient (``added``, ``list_failed``)
``BlipRemoveFromListOperator`` one result row per recipient (``removed``, ``list_failed``)
``BlipSyncListOperator``       one result row per change (``added``, ``removed``...)
``BlipListMembersOperator``    the member identities
``BlipSendToListOperator``     ``{"list": address, "message_id": id}``
=============================  =================================================

``BlipDistributionListOperator(action=...)`` stays for one release as a thin wrapper over
these, with a deprecation warning.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow_provider_blip.exceptions import BlipConfigError, BlipError
from airflow_provider_blip.jobs.policy import FATAL_ERRORS, as_records, failure_fields, is_reachable
from airflow_provider_blip.operators._batch import BlipBatchOperator
from airflow_provider_blip.utils import lime
from airflow_provider_blip.utils.concurrency import bounded_map
from airflow_provider_blip.utils.ids import task_message_id
from airflow_provider_blip.utils.results import RecipientStatus
from airflow_provider_blip.utils.templates import literal_content

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import Context

Action = Literal["create", "delete", "add", "remove", "sync", "members", "send_template"]
ACTIONS = ("create", "delete", "add", "remove", "sync", "members", "send_template")


class _ListOperator(BlipBatchOperator):
    """What every list operator takes: the list.

    :param list_name: the list's name or address (``name@broadcast.msging.net``). (templated)
    """

    template_fields = (*BlipBatchOperator.template_fields, "list_name")

    def __init__(self, *, list_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.list_name = list_name

    @property
    def address(self) -> str:
        """The list's address, ``name@broadcast.msging.net``."""
        return lime.list_identity(self.list_name)

    def execute(self, context: Context) -> Any:
        return self.run(context)

    def run(self, context: Context) -> Any:
        """Do the action; :meth:`execute` and the deprecated wrapper both call it."""
        raise NotImplementedError

    def _each(self, change: Callable[[str, str], None], done: RecipientStatus) -> Callable[[dict], dict]:
        """Wrap a hook call on one account as a step that returns the recipient's result row."""

        def step(record: dict[str, Any]) -> dict[str, Any]:
            try:
                change(self.list_name, record["account"])
            except FATAL_ERRORS:
                raise
            except BlipError as exc:
                return {**record, "status": RecipientStatus.LIST_FAILED.value, **failure_fields(exc)}
            return {**record, "status": done.value}

        return step


class BlipCreateListOperator(_ListOperator):
    """Create a distribution list; one that already exists is fine.

    .. seealso:: docs/operators/distribution_list.md

    :return: ``{"list": address}``.
    """

    step = "list create"

    def run(self, context: Context) -> dict[str, str]:
        return {"list": self.hook.create_list(self.list_name)}


class BlipDeleteListOperator(_ListOperator):
    """Delete a distribution list; one that does not exist is fine.

    :return: ``{"list": address}``.
    """

    step = "list delete"

    def run(self, context: Context) -> dict[str, str]:
        return {"list": self.hook.delete_list(self.list_name)}


class _RecipientsOperator(_ListOperator):
    """A list operator that acts on recipients.

    :param recipients: result rows of an upstream Blip task (rows with an account and no
        failure), the output of a notify chunk, or WhatsApp identities. (templated)
    """

    template_fields = (*_ListOperator.template_fields, "recipients")

    def __init__(self, *, recipients: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recipients = recipients


class BlipAddToListOperator(_RecipientsOperator):
    """Add recipients to a list, creating the list once when Blip answers that it is missing (101).

    :return: one result row per recipient: ``added`` or ``list_failed`` (rows that failed an
        earlier step pass through unchanged).
    """

    step = "list add"

    def run(self, context: Context) -> list[dict[str, Any]]:
        records = as_records(self.recipients)
        add = self._each(self.hook.add_list_member, RecipientStatus.ADDED)
        return self.run_each(records, add, is_reachable)


class BlipRemoveFromListOperator(_RecipientsOperator):
    """Remove recipients from a list; "not a member" (64) and "no such list" (101) count as removed.

    :return: one result row per recipient: ``removed`` or ``list_failed``.
    """

    step = "list remove"

    def run(self, context: Context) -> list[dict[str, Any]]:
        records = as_records(self.recipients)
        remove = self._each(self.hook.remove_list_member, RecipientStatus.REMOVED)
        return self.run_each(records, remove, is_reachable)


class BlipSyncListOperator(_RecipientsOperator):
    """Make a list hold exactly the reachable recipients: add the missing, remove the others.

    Refuses an upstream with no reachable recipient, which would empty a live list.

    :param page_size: members read per page.
    :return: one result row per change: ``added``, ``removed`` or ``list_failed``.
    """

    step = "list sync"

    def __init__(self, *, page_size: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.page_size = page_size

    def run(self, context: Context) -> list[dict[str, Any]]:
        records = as_records(self.recipients)
        wanted = {r["account"] for r in records if is_reachable(r)}
        if not wanted:
            # An empty upstream (a failed survey, an empty file) must not wipe a live list.
            raise BlipConfigError(
                f"sync of {self.address}: no reachable recipient, which would remove every member; "
                "use BlipRemoveFromListOperator to empty a list on purpose"
            )
        self.hook.create_list(self.list_name)
        current = set(self.hook.iter_list_members(self.list_name, page_size=self.page_size))
        adds = [r for r in records if is_reachable(r) and r["account"] not in current]
        extra = [
            {"row": 0, "phone": "", "account": a, "status": RecipientStatus.VERIFIED.value}
            for a in sorted(current - wanted)
        ]
        workers = self.hook.config.concurrency
        add = self._each(self.hook.add_list_member, RecipientStatus.ADDED)
        results = list(bounded_map(add, adds, workers=workers))
        remove = self._each(self.hook.remove_list_member, RecipientStatus.REMOVED)
        results += list(bounded_map(remove, extra, workers=workers))
        self.log.info(
            "List %s: %d already members, %d added, %d removed",
            self.address,
            len(wanted & current),
            len(adds),
            len(extra),
        )
        return self.finish(results)


class BlipListMembersOperator(_ListOperator):
    """Read every member of a list, page by page.

    :param page_size: members read per page.
    :return: the member identities.
    """

    step = "list members"

    def __init__(self, *, page_size: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.page_size = page_size

    def run(self, context: Context) -> list[str]:
        return list(self.hook.iter_list_members(self.list_name, page_size=self.page_size))


class BlipSendToListOperator(_ListOperator):
    """Send one template message to the whole list; Blip fans it out to every member.

    The id is deterministic per task instance: a retry finds the message Blip already has
    (by its notifications) and does not send to the whole list again.

    :param template_name: the approved template. (templated)
    :param language: the template's language. (templated)
    :param body: literal body values; ``${contact.name}`` and ``${contact.extras.key}`` are
        replaced per member by Blip. (templated)
    :return: ``{"list": address, "message_id": id}``.
    """

    template_fields = (*_ListOperator.template_fields, "template_name", "language", "body")
    step = "list send"

    def __init__(
        self,
        *,
        template_name: str,
        language: str = "pt_BR",
        body: list[str | dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not template_name:
            raise BlipConfigError("BlipSendToListOperator needs template_name")
        self.template_name = template_name
        self.language = language
        self.body = body

    def run(self, context: Context) -> dict[str, str]:
        content = literal_content(template_name=self.template_name, language=self.language, body=self.body)
        ti = context["ti"]
        mid = task_message_id(ti, recipient=self.address, template=self.template_name)
        self.hook.send_message(
            self.address,
            "application/json",
            content,
            envelope_id=mid,
            metadata={"#message.replaceVariables": "true"},
            check_first=ti.try_number > 1,
        )
        return {"list": self.address, "message_id": mid}


class BlipDistributionListOperator(BlipBatchOperator):
    """Deprecated: one of the list operators above, chosen by ``action``; kept for one release.

    ``create`` → :class:`BlipCreateListOperator`, ``delete`` → :class:`BlipDeleteListOperator`,
    ``add`` → :class:`BlipAddToListOperator`, ``remove`` → :class:`BlipRemoveFromListOperator`,
    ``sync`` → :class:`BlipSyncListOperator`, ``members`` → :class:`BlipListMembersOperator`,
    ``send_template`` → :class:`BlipSendToListOperator`. Arguments and results are theirs.

    :param list_name: the list's name or address. (templated)
    :param action: which operator to run.
    """

    template_fields = (
        *BlipBatchOperator.template_fields,
        "list_name",
        "recipients",
        "template_name",
        "language",
        "body",
    )
    _OPERATORS: ClassVar[dict[str, type[_ListOperator]]] = {}

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
        warnings.warn(
            f"BlipDistributionListOperator(action={action!r}) is deprecated; use "
            f"{_OPERATORS[action].__name__}",
            DeprecationWarning,
            stacklevel=2,
        )
        self.list_name = list_name
        self.action = action
        self.step = f"list {action}"
        self.recipients = recipients
        self.template_name = template_name
        self.language = language
        self.body = body
        self.page_size = page_size

    def execute(self, context: Context) -> Any:
        # run(), not execute(): Airflow refuses (warns about) an execute() called from another's.
        return self.delegate().run(context)

    def delegate(self) -> _ListOperator:
        """Build the operator this action stands for, with this task's (rendered) arguments."""
        kwargs: dict[str, Any] = {"list_name": self.list_name}
        if self.action in ("add", "remove", "sync"):
            kwargs["recipients"] = self.recipients
        if self.action in ("sync", "members"):
            kwargs["page_size"] = self.page_size
        if self.action == "send_template":
            kwargs.update(template_name=self.template_name, language=self.language, body=self.body)
        operator = _OPERATORS[self.action](
            task_id=self.task_id,
            blip_conn_id=self.blip_conn_id,
            max_failed_ratio=self.max_failed_ratio,
            **kwargs,
        )
        operator.hook = self.hook  # one hook, one connection read, one set of limiters
        return operator


_OPERATORS: dict[str, type[_ListOperator]] = {
    "create": BlipCreateListOperator,
    "delete": BlipDeleteListOperator,
    "add": BlipAddToListOperator,
    "remove": BlipRemoveFromListOperator,
    "sync": BlipSyncListOperator,
    "members": BlipListMembersOperator,
    "send_template": BlipSendToListOperator,
}
BlipDistributionListOperator._OPERATORS = _OPERATORS


class BlipContactSurveyOperator(BlipBatchOperator):
    """List every contact that reached the bot on a channel (WhatsApp by default).

    Pages through ``/contacts`` with ``$filter=(substringof('WhatsApp',source))`` as the
    help-centre article does; the hook splits the ``lastmessagedate`` range into windows so
    that more than 10,000 contacts are read in full.

    .. seealso:: docs/operators/distribution_list.md

    :param source: the contact source to survey. (templated)
    :param since: earliest ``lastmessagedate`` (ISO date); default 2000-01-01. (templated)
    :return: result rows ``{"row", "phone", "account", "status": "verified"}`` ready for
        the list operators (``phone`` is the number of the identity).
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
        for contact in self.hook.iter_contacts(source=self.source, since=since, until=until):
            if contact.identity not in seen:  # windows may overlap at their edges
                seen.add(contact.identity)
                results.append(
                    {
                        "row": len(results) + 1,
                        "phone": contact.phone,
                        "account": contact.identity,
                        "status": RecipientStatus.VERIFIED.value,
                    }
                )
        return self.finish(results)
