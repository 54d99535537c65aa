"""The Blip hook: the only place that talks HTTP to Blip."""

from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_blip import __version__
from airflow_provider_blip.exceptions import (
    BlipAuthError,
    BlipBadRequestError,
    BlipCommandError,
    BlipConfigError,
    BlipEndpointError,
    BlipError,
    BlipHTTPError,
    BlipNotFoundError,
    BlipPagingLimitError,
    BlipRateLimitError,
    BlipServerError,
    BlipTimeoutError,
    BlipTransportError,
    command_error,
)
from airflow_provider_blip.hooks._transport import Answer, Transport, transport_for
from airflow_provider_blip.utils import campaigns, lime
from airflow_provider_blip.utils.concurrency import bounded_map
from airflow_provider_blip.utils.connection import BlipConnectionConfig, parse_connection
from airflow_provider_blip.utils.contacts import Contact
from airflow_provider_blip.utils.ids import command_id
from airflow_provider_blip.utils.privacy import mask_identities
from airflow_provider_blip.utils.ratelimit import CHANNELS, STATUS_READS, RateLimiter, shared_limiter
from airflow_provider_blip.utils.registry import ApprovedTemplate
from airflow_provider_blip.utils.status import MessageStatus, reduce_events

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable, Iterator

    import pendulum
    import requests
    import tenacity
    from requests.models import PreparedRequest

#: Filtered contact queries may not page past skip + take = 10000 (docs/blip-api-facts.md §6).
FILTERED_WINDOW = 10_000
# Largest $take Blip accepts per collection (docs/blip-api-facts.md §6, §8, §11); others default to 100.
_MAX_TAKE = {"/contacts": 30_000, "/notifications": 100, "/threads": 100}

_BROADCAST = lime.POSTMASTER_BROADCAST

_CHANNEL_OF_PATH = {"/commands": "commands", "/messages": "messages", "/notifications": "notifications"}


class BlipKeyAuth:
    """Set ``Authorization: Key <bot key>``; the repr never shows the key.

    A plain callable (requests accepts one as ``auth``), so that importing the hook does not
    import requests: DAG files that only name operators stay cheap to parse.
    """

    def __init__(self, key: str) -> None:
        self._header = f"Key {key}"

    def __repr__(self) -> str:
        return "BlipKeyAuth(<hidden>)"

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = self._header
        return request


def _retry_after(response: Answer) -> float | None:
    """Read ``Retry-After`` as seconds (it may be a number or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def _http_error(
    response: Answer, path: str, envelope_id: str | None, config: BlipConnectionConfig
) -> BlipHTTPError:
    status = response.status_code
    if status in (401, 403):
        # No body: one could echo the Authorization header on some proxies.
        return BlipAuthError(
            status, path=path, conn_id=config.conn_id, base_url=config.base_url, envelope_id=envelope_id
        )
    if status == 404:
        # Blip answers a missing resource with HTTP 200 and reason 67: a 404 is the path itself.
        url = config.base_url + path
        return BlipEndpointError(status, path=path, conn_id=config.conn_id, url=url, envelope_id=envelope_id)
    cls: type[BlipHTTPError]
    if status == 429:
        cls = BlipRateLimitError
    elif status >= 500:
        cls = BlipServerError
    else:
        cls = BlipBadRequestError
    return cls(
        status, path=path, envelope_id=envelope_id, body=response.text, retry_after=_retry_after(response)
    )


class _Gate:
    """Let a hook's first request go alone, so a wrong key or base URL costs one request.

    Until one request has been answered with success, callers go one at a time (the others
    wait); once one has, the gate stays open for good. A fatal answer (401, 403, an endpoint's
    404) is kept and raised to every caller, waiting or later, without sending anything.
    """

    __slots__ = ("_cond", "_testing", "fatal", "open")

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._testing = False  # one caller's request is out
        self.open = False
        self.fatal: BlipHTTPError | None = None

    def enter(self) -> bool:
        """Wait for this caller's turn; return whether it is the one testing the connection."""
        with self._cond:
            while True:
                self.raise_fatal()
                if self.open:
                    return False
                if not self._testing:
                    self._testing = True
                    return True
                self._cond.wait()

    def leave(self, *, succeeded: bool) -> None:
        """Report the testing caller's outcome: success opens the gate for everyone."""
        with self._cond:
            self._testing = False
            self.open = self.open or succeeded
            if self.open or self.fatal is not None:
                self._cond.notify_all()
            else:
                self._cond.notify()  # a failure that is not fatal (5xx, no answer): the next one tests

    def fail(self, error: BlipHTTPError) -> None:
        """Remember a fatal answer: from now on every request raises it."""
        with self._cond:
            if self.fatal is None:
                self.fatal = error
            self._cond.notify_all()

    def raise_fatal(self) -> None:
        if self.fatal is not None:
            raise _fatal_again(self.fatal)


def _fatal_again(error: BlipHTTPError) -> BlipHTTPError:
    # A fresh instance per raise (threads must not share one traceback), with the same text
    # and attributes. Not copy.copy: it would call __init__ with the text as the status.
    again = type(error).__new__(type(error))
    again.__dict__.update(error.__dict__)
    again.args = error.args
    again.__notes__ = ["not sent: an earlier request of this hook got this answer"]
    return again


class BlipHook(BaseHook):
    """Talk to the Blip HTTP API: commands, messages and notifications.

    The hook owns the connection, a pooled HTTP session, the ``Authorization: Key`` header,
    timeouts, a client-side pace per channel shared by every thread of the process (a 429
    pauses the whole channel), one retry policy and the mapping of every failure to a typed
    error (:mod:`airflow_provider_blip.exceptions`).

    Its first request goes alone: a wrong key (401, 403) or base URL (404) is learnt from
    that one request, and from then on every request of the hook raises the same fatal error
    without sending.

    .. seealso::
        docs/connection.md for the connection fields, docs/blip-api-facts.md for the wire format.

    :param blip_conn_id: the Blip connection to use.
    :param timeout: seconds to wait for an answer; overrides the connection's ``timeout`` extra.
    :param max_retries: retries after the first attempt for retryable failures (429, 5xx,
        timeouts, dropped connections); overrides the ``max_retries`` extra.
    :param concurrency: HTTP connections kept open for parallel requests; overrides the
        ``concurrency`` extra.
    :param retry_base_delay: first backoff wait in seconds; doubles each retry (with jitter,
        except for a 429 without ``Retry-After``: that is the channel's pause).
    :param retry_max_delay: longest single wait or pause, ``Retry-After`` included; the
        default of 180 s is above the two-minute lockout Blip is reported to apply.
    """

    conn_name_attr = "blip_conn_id"
    default_conn_name = "blip_default"
    conn_type = "blip"
    hook_name = "Blip"

    def __init__(
        self,
        blip_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        concurrency: int | None = None,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 180.0,
        transport: Transport | None = None,
    ) -> None:
        super().__init__()
        self.blip_conn_id = blip_conn_id
        self._overrides = {"timeout": timeout, "max_retries": max_retries, "concurrency": concurrency}
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        # The one seam tests replace: how the hook waits between retries (429 excepted: that
        # pauses the channel's limiter instead).
        self._sleep: Callable[[float], None] = time.sleep
        self._given_transport = transport
        self._gate = _Gate()
        # Lists this hook created after a 101, so many threads create each list once.
        self._lists_lock = threading.Lock()
        self._lists_created: set[str] = set()

    def __repr__(self) -> str:
        return f"BlipHook(blip_conn_id={self.blip_conn_id!r})"

    # -- connection and session ------------------------------------------------------------

    @cached_property
    def config(self) -> BlipConnectionConfig:
        """The validated connection settings (read once per hook)."""
        conn = self.get_connection(self.blip_conn_id)
        config = parse_connection(conn, **self._overrides)
        # Airflow masks the raw password; also mask the forms we derive from it.
        mask_secret(config.key)
        mask_secret(f"Key {config.key}")
        if config.proxy:
            mask_secret(config.proxy)
        return config

    @cached_property
    def session(self) -> requests.Session:
        """A pooled session sized for ``concurrency`` parallel requests."""
        import requests  # on first use, not at DAG parse time (~40 ms)
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.config.concurrency, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.auth = BlipKeyAuth(self.config.key)
        session.headers.update(
            {"Content-Type": "application/json", "User-Agent": f"airflow-provider-blip/{__version__}"}
        )
        # requests re-reads proxy and CA-bundle variables from os.environ on every call
        # (a third of its cost per request); the base URL is fixed, so read them once here.
        if self.config.proxy:
            session.proxies = {"http": self.config.proxy, "https": self.config.proxy}
        else:
            session.proxies = requests.utils.get_environ_proxies(self.config.base_url)
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.trust_env = False
        return session

    @cached_property
    def transport(self) -> Transport:
        """What carries each POST: the one given, else the session's pool (or the session, via a proxy)."""
        if self._given_transport is not None:
            return self._given_transport
        return transport_for(self.session, self.config.base_url, self.config.timeout, tuple(_CHANNEL_OF_PATH))

    def get_conn(self) -> requests.Session:
        """Return the pooled :class:`requests.Session`."""
        return self.session

    @cached_property
    def _limiters(self) -> dict[str, RateLimiter]:
        # Looked up once per hook, not per request: the registry takes a global lock.
        config = self.config
        rates = {**{c: config.rates.get(c) for c in CHANNELS}, STATUS_READS: config.status_read_rate}
        return {
            name: shared_limiter(config.scope, name, rate, margin=config.rate_margin)
            for name, rate in rates.items()
        }

    def limiter(self, channel: str) -> RateLimiter:
        """Return the process-wide rate limiter of ``channel`` for this bot.

        :param channel: ``messages``, ``commands``, ``notifications``, or ``status_reads``
            (the budget of :meth:`get_message_statuses`, within the commands one).
        """
        if channel not in self._limiters:
            raise BlipConfigError(
                f"unknown Blip channel {channel!r}; expected one of {(*CHANNELS, STATUS_READS)}"
            )
        return self._limiters[channel]

    # -- retry policy ----------------------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, BlipRateLimitError):
            return 0.0  # the channel is paused (_pause_channel): the retry waits in acquire()
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            # Blip told us when; a little jitter keeps parallel workers from returning together.
            return min(self.retry_max_delay, retry_after + random.uniform(0, 0.1 * (retry_after or 1)))
        backoff = self.retry_base_delay * 2 ** (state.attempt_number - 1)
        return random.uniform(0, min(self.retry_max_delay, backoff))  # full jitter

    def _pause_channel(self, exc: BlipRateLimitError, attempt: int) -> None:
        """Pause the whole channel of a 429, for every thread of the process, not just this one.

        For ``Retry-After`` seconds, or an exponential backoff by this request's attempt when
        Blip gives none. The pause is logged once, by the 429 that starts it.
        """
        channel = _CHANNEL_OF_PATH[exc.path]
        backoff = self.retry_base_delay * 2 ** (attempt - 1)
        seconds = min(self.retry_max_delay, exc.retry_after if exc.retry_after else backoff)
        if self._limiters[channel].pause(seconds):
            self.log.warning(
                "Blip answered HTTP 429 on %s: pausing the %s channel for %.1fs for every thread of "
                "this process, then resuming at half pace",
                exc.path,
                channel,
                seconds,
            )

    def _log_wait(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, BlipRateLimitError):
            return  # logged once per pause of the channel, not once per thread
        wait = state.next_action.sleep if state.next_action else 0.0
        self.log.warning(
            "Blip request failed (%s); retrying in %.2fs (attempt %d of %d)",
            exc,
            wait,
            state.attempt_number + 1,
            self.config.max_retries + 1,
        )

    def _retrying(self) -> tenacity.Retrying:
        import tenacity  # on first use, not at DAG parse time

        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.config.max_retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, BlipError) and e.retryable),
            before_sleep=self._log_wait,
            sleep=lambda seconds: self._sleep(seconds) if seconds > 0 else None,
            reraise=True,
        )

    # -- one request ------------------------------------------------------------------------

    def _post_once(self, path: str, envelope: dict[str, Any]) -> Answer:
        gate = self._gate
        if gate.open:
            return self._attempt(path, envelope)
        testing = gate.enter()  # raises a fatal error already learnt
        succeeded = False
        try:
            answer = self._attempt(path, envelope)
            succeeded = True
            return answer
        finally:
            if testing:
                gate.leave(succeeded=succeeded)

    def _attempt(self, path: str, envelope: dict[str, Any]) -> Answer:
        if self._gate.fatal is not None:  # another thread's answer was fatal meanwhile
            self._gate.raise_fatal()
        body = _json_body(envelope)
        self._limiters[_CHANNEL_OF_PATH[path]].acquire()
        try:
            answer = self.transport.post(path, body)
        except BlipTransportError as exc:  # the transport names no URI: say which envelope
            described = _describe(path, envelope)
            if isinstance(exc, BlipTimeoutError):
                message = f"Blip did not answer {described} within {self.config.timeout}s"
            else:
                message = f"no answer from Blip for {described}: {str(exc).removeprefix('no answer: ')}"
            raise type(exc)(message, uri=described) from None
        return self._check(path, envelope, answer)

    def _check(self, path: str, envelope: dict[str, Any], answer: Answer) -> Answer:
        if answer.status_code >= 300:
            error = _http_error(answer, path, envelope.get("id"), self.config)
            if isinstance(error, (BlipAuthError, BlipEndpointError)):
                self._gate.fail(error)
            raise error
        return answer

    def _post(
        self,
        path: str,
        envelope: dict[str, Any],
        parse: Callable[[Answer], Any],
        landed: Callable[[], bool] | None = None,
    ) -> Any:
        """POST one envelope under the retry policy and return ``parse`` of the answer.

        :param landed: asked before a retry that follows an *ambiguous* failure (no answer,
            or a 5xx: Blip may have stored the envelope anyway); when it says the envelope
            already landed, the retry is skipped and ``None`` is returned.
        """
        attempts = 0
        ambiguous = False

        def once() -> Any:
            nonlocal attempts, ambiguous
            attempts += 1
            if ambiguous and landed is not None and landed():
                self.log.info("Blip already has envelope %s: not sending it again", envelope.get("id"))
                return None
            try:
                return parse(self._post_once(path, envelope))
            except (BlipTransportError, BlipServerError):
                ambiguous = True
                raise
            except BlipRateLimitError as exc:
                self._pause_channel(exc, attempts)  # the last attempt's 429 too: others must wait
                raise

        try:
            try:
                return once()  # most requests succeed: no retry machinery on that path
            except BlipError as exc:
                if not exc.retryable:
                    raise
                first: list[BaseException] = [exc]
            # The policy takes over from the first failure: replaying it as tenacity's attempt 1
            # keeps one place for counting, waiting (Retry-After) and logging.
            return self._retrying()(lambda: once() if not first else _raise(first.pop()))
        except BlipError as exc:
            if exc.retryable and attempts > 1:
                exc.add_note(f"gave up after {attempts} attempts")
            raise

    # -- the three envelope kinds -------------------------------------------------------------

    def send_command(
        self,
        method: str,
        uri: str,
        *,
        to: str | None = None,
        content_type: str | None = None,
        resource: Any = None,
        envelope_id: str | None = None,
    ) -> dict[str, Any]:
        """Send a command to ``/commands`` and return Blip's response envelope.

        :param method: ``get``, ``set``, ``merge``, ``delete``...
        :param uri: the command URI; build paths with :func:`~airflow_provider_blip.utils.lime.path`
            so every segment is percent-encoded.
        :param to: the extension's postmaster; Blip's server when omitted.
        :param content_type: MIME type of ``resource`` (needed when sending one).
        :param resource: the document to send.
        :param envelope_id: a caller-chosen id (e.g. deterministic); a random UUID otherwise.
        :raises BlipCommandError: the command answered ``status: failure`` (HTTP 200).
        """
        envelope = lime.command(
            method, uri, to=to, content_type=content_type, resource=resource, envelope_id=envelope_id
        )

        def parse(response: Answer) -> dict[str, Any]:
            try:
                body = response.json()
            except ValueError:
                raise BlipTransportError(f"Blip answered {method} with a body that is not JSON") from None
            if body.get("status") != "success":
                raise command_error(body, method=method, uri=uri)
            return body

        return self._post("/commands", dict(envelope), parse)

    def get_resource(self, uri: str, *, to: str | None = None, missing_ok: bool = False) -> Any:
        """Run a ``get`` command and return its ``resource``.

        :param missing_ok: return ``None`` when Blip answers reason 67 (not found).
        """
        try:
            return self.send_command("get", uri, to=to).get("resource")
        except BlipNotFoundError:
            if missing_ok:
                return None
            raise

    def send_message(
        self,
        to: str,
        content_type: str,
        content: Any,
        *,
        envelope_id: str | None = None,
        metadata: dict[str, str] | None = None,
        check_first: bool = False,
    ) -> str:
        """Send a message to ``/messages`` (Blip answers 202) and return its id.

        Delivery is reported later by notifications; read them with :meth:`get_notifications`.

        :param check_first: look for the message's notifications before sending, and send
            only when Blip has none: for a task retry that re-derives a deterministic id.
        """
        envelope = lime.message(to, content_type, content, envelope_id=envelope_id, metadata=metadata)
        message_id = envelope["id"]
        if check_first and self.get_notifications(message_id):
            return message_id
        # Blip documents no deduplication by id: after an ambiguous failure, look for the
        # message's notifications before sending it again (docs/blip-api-facts.md §10).
        landed = lambda: bool(self.get_notifications(message_id))  # noqa: E731
        self._post("/messages", dict(envelope), lambda _: None, landed=landed)
        return message_id

    def send_notification(
        self, to: str, event: str, *, envelope_id: str, reason: dict[str, Any] | None = None
    ) -> None:
        """Send a notification (``/notifications``) about message ``envelope_id``."""
        envelope = lime.notification(to, event, envelope_id=envelope_id, reason=reason)
        self._post("/notifications", dict(envelope), lambda _: None)

    def get_notifications(self, message_id: str) -> list[dict[str, Any]]:
        """Return every notification Blip kept for ``message_id`` (kept for 3 days)."""
        uri = lime.with_query("/notifications", {"id": message_id})
        resource = self.get_resource(uri, to=lime.POSTMASTER, missing_ok=True) or {}
        return list(resource.get("items") or [])

    # -- contexts, distribution lists and contacts (docs/blip-api-facts.md §5-§7) -------------

    def set_context(self, identity: str, name: str, value: str) -> None:
        """Set one context variable of a user, e.g. ``stateid@{flowId}`` or ``master-state``."""
        uri = lime.path("contexts", identity, name)
        self.send_command("set", uri, content_type="text/plain", resource=value)

    def delete_context(self, identity: str, name: str) -> None:
        """Delete one context variable; one that is already absent is fine (idempotent)."""
        try:
            self.send_command("delete", lime.path("contexts", identity, name))
        except BlipNotFoundError:
            pass

    def create_list(self, list_name: str) -> str:
        """Create a distribution list, or accept one that exists; return its address.

        Blip's docs do not say what creating an existing list answers (UNCONFIRMED): a failed
        create is accepted when a one-item read of the list's members then succeeds.
        """
        address = lime.list_identity(list_name)
        try:
            self.send_command(
                "set", "/lists", to=_BROADCAST, content_type=lime.LIST_TYPE, resource={"identity": address}
            )
        except BlipCommandError:
            probe = lime.with_query(lime.path("lists", address, "recipients"), {"$take": 1})
            self.send_command("get", probe, to=_BROADCAST)  # raises when there is no list either
        return address

    def delete_list(self, list_name: str) -> str:
        """Delete a distribution list; one that does not exist is fine. Return its address."""
        address = lime.list_identity(list_name)
        self._ignoring(lambda: self.send_command("delete", lime.path("lists", address), to=_BROADCAST))
        return address

    def add_list_member(self, list_name: str, account: str) -> None:
        """Add ``account`` to a list, creating the list when Blip answers that it is missing (101).

        Many threads may get reason 101 at once: the first creates the list and the others only
        add again, so a hook creates each list once, however many threads it runs.
        """
        address = lime.list_identity(list_name)
        uri = lime.path("lists", address, "recipients")

        def add() -> None:
            self.send_command("set", uri, to=_BROADCAST, content_type=lime.IDENTITY_TYPE, resource=account)

        try:
            add()
        except BlipCommandError as exc:
            if exc.code != lime.REASON_LIST_MISSING:
                raise
            with self._lists_lock:
                if address not in self._lists_created:
                    self.create_list(address)
                    self._lists_created.add(address)
            add()

    def remove_list_member(self, list_name: str, account: str) -> None:
        """Remove ``account`` from a list; not a member (64) or no such list (101) is fine."""
        uri = lime.path("lists", lime.list_identity(list_name), "recipients", account)
        self._ignoring(
            lambda: self.send_command("delete", uri, to=_BROADCAST),
            lime.REASON_NOT_A_MEMBER,
            lime.REASON_LIST_MISSING,
        )

    def iter_list_members(self, list_name: str, *, page_size: int = 1000) -> Iterator[str]:
        """Yield every member identity of a list, page by page."""
        uri = lime.path("lists", lime.list_identity(list_name), "recipients")
        for item in self.iter_collection(uri, to=_BROADCAST, page_size=page_size):
            yield item if isinstance(item, str) else str(item.get("identity", ""))

    def iter_contacts(
        self,
        *,
        source: str = "WhatsApp",
        since: pendulum.DateTime,
        until: pendulum.DateTime,
        page_size: int = 10_000,
    ) -> Iterator[Contact]:
        """Yield every contact whose source matches, beyond Blip's 10,000 limit on filtered paging.

        The source filter alone is tried first. When it matches more than 10,000 contacts, the
        ``lastmessagedate`` range ``[since, until)`` is read in windows, and a window that still
        holds more than 10,000 is split in two and read again (docs/blip-api-facts.md §6).
        Contacts with no ``lastmessagedate`` are only found by the first, unwindowed query.
        Windows may overlap at their edges: an identity can come twice.
        """
        for item in self._survey(source, since, until, page_size):
            contact = Contact.of(item)
            if contact is not None:
                yield contact

    def _survey(
        self, source: str, since: pendulum.DateTime, until: pendulum.DateTime, page_size: int
    ) -> Iterator[Any]:
        def page(start: pendulum.DateTime | None = None, end: pendulum.DateTime | None = None) -> list[Any]:
            uri = lime.with_query("/contacts", {"$filter": lime.survey_filter(source, start, end)})
            return list(self.iter_collection(uri, to=lime.POSTMASTER_CRM, page_size=page_size))

        try:
            yield from page()
            return
        except BlipPagingLimitError:
            pass
        windows = [(since, until)]
        while windows:
            start, end = windows.pop()
            try:
                items = page(start, end)
            except BlipPagingLimitError:
                if (end - start).total_seconds() < 1:
                    raise
                middle = start + (end - start) / 2
                windows += [(middle, end), (start, middle)]
                continue
            yield from items

    @staticmethod
    def _ignoring(call: Callable[[], Any], *codes: int) -> None:
        """Run a delete; an answer that the thing is already gone (67 or one of ``codes``) is fine."""
        try:
            call()
        except BlipCommandError as exc:
            if exc.code not in codes and not isinstance(exc, BlipNotFoundError):
                raise

    def get_message_status(self, message_id: str) -> tuple[MessageStatus, dict[str, Any] | None]:
        """Return the furthest status of a message and, when it failed, Blip's reason.

        Events of several hops (tunnel, router, gateway) are reduced to one: ``failed``, or
        else the furthest of accepted < dispatched < received < consumed.
        It takes the commands budget only (it is one step of a recipient's pipeline).
        """
        return reduce_events(self.get_notifications(message_id))

    def get_message_statuses(
        self, message_ids: Iterable[str]
    ) -> dict[str, tuple[str, dict[str, Any] | None]]:
        """Read the status of many messages, ``concurrency`` at a time.

        Each read takes the ``status_reads`` budget (the commands rate times the
        ``status_read_share`` extra, shared by the process) on top of the commands one, so
        that polling delivery never uses the whole commands rate that sends need.

        :return: message id -> (status value, failure reason or ``None``), JSON-friendly.
        """
        reads = self._limiters[STATUS_READS]

        def read(message_id: str) -> tuple[str, tuple[str, dict[str, Any] | None]]:
            reads.acquire()
            status, reason = self.get_message_status(message_id)
            return message_id, (status.value, reason)

        return dict(bounded_map(read, message_ids, workers=self.config.concurrency))

    def get_whatsapp_account(self, phone_e164: str) -> str | None:
        """Look a number up on WhatsApp and return its ``alternativeAccount`` (docs/blip-api-facts.md §3).

        The account can differ from the number (the Brazilian ninth digit): send to it.

        :param phone_e164: the number with its leading ``+``.
        :return: the account, or ``None`` when Blip answered without one.
        :raises BlipNotFoundError: Blip answered reason 67 (no such WhatsApp account).
        """
        uri = lime.whatsapp_account_uri(phone_e164)
        return (self.get_resource(uri, to=lime.POSTMASTER_WHATSAPP) or {}).get("alternativeAccount")

    # -- the approved-template registry (issue 11) ---------------------------------------------

    @cached_property
    def _template_cache(self) -> dict[str | None, list[ApprovedTemplate]]:
        # Per hook, so per task: the registry changes rarely, and a task asks once per name.
        return {}

    def list_templates(self, *, name: str | None = None) -> list[ApprovedTemplate]:
        """Return the bot's WhatsApp templates (or those called ``name``), read once per hook.

        Reads ``/message-templates-enriched`` (which adds ``previous_category``), falling back
        to ``/message-templates`` when Blip refuses it, ``$take`` 100 per page until a short page;
        items without a name or language are skipped, unknown fields ignored (docs/blip-api-facts.md §13.3).

        :param name: only the templates with this name (``?templateName=``).
        """
        if name is None and None in self._template_cache:
            return list(self._template_cache[None])
        if name is not None and None in self._template_cache:
            return [t for t in self._template_cache[None] if t.name == name]
        if name not in self._template_cache:
            query = {"templateName": name} if name is not None else {}
            try:
                items = self._template_pages("/message-templates-enriched", query)
            except BlipCommandError:
                items = self._template_pages("/message-templates", query)
            parsed = (ApprovedTemplate.from_graph(item) for item in items)
            self._template_cache[name] = [t for t in parsed if t is not None]
        return list(self._template_cache[name])

    def get_template(self, name: str, language: str) -> ApprovedTemplate | None:
        """Return the template ``name`` in ``language`` from the registry, or ``None``."""
        return next((t for t in self.list_templates(name=name) if t.language == language), None)

    def _template_pages(self, path: str, query: dict[str, str], take: int = 100) -> list[Any]:
        items: list[Any] = []
        while True:
            uri = lime.with_query(path, {**query, "$skip": len(items), "$take": take})
            resource = self.get_resource(uri, to=lime.POSTMASTER_WHATSAPP) or {}
            page = list(resource.get("data") or []) if isinstance(resource, dict) else []
            items.extend(page)
            if len(page) < take:
                return items

    # -- collections ------------------------------------------------------------------------

    def iter_collection(self, uri: str, *, to: str | None = None, page_size: int = 100) -> Iterator[Any]:
        """Yield every item of a collection, paging with ``$skip``/``$take``.

        Stops on the first short page and never trusts ``total``. Filtered queries
        (``$filter``) may not pass skip + take = 10000; reaching that limit with more items
        possibly left raises :class:`BlipPagingLimitError` instead of dropping them.

        :param uri: the collection URI, with its own query (e.g. ``$filter``) if any.
        :param page_size: the ``$take`` of each page, capped at Blip's documented maximum.
        """
        if page_size < 1:
            raise BlipConfigError("page_size must be at least 1")
        base = uri.split("?", 1)[0]
        take = min(page_size, next((v for k, v in _MAX_TAKE.items() if base.startswith(k)), page_size))
        filtered = "$filter=" in uri
        skip = 0
        while True:
            page_take = min(take, FILTERED_WINDOW - skip) if filtered else take
            if page_take <= 0:
                raise BlipPagingLimitError(
                    f"{mask_identities(uri)} has {skip} items or more; Blip pages filtered queries "
                    f"only up to skip + take = {FILTERED_WINDOW}: narrow the filter (e.g. date windows)"
                )
            resource = self.get_resource(lime.with_query(uri, {"$skip": skip, "$take": page_take}), to=to)
            items = list((resource or {}).get("items") or [])
            yield from items
            if len(items) < page_take or _reached_total(resource, skip + len(items)):
                return
            skip += len(items)

    # -- Active Campaign and the scheduler (docs/campaigns.md) -------------------------------

    def create_campaign(self, draft: campaigns.CampaignDraft) -> str:
        """Create and dispatch an Active Campaign (``set /campaign/full``); return its id.

        The name is the campaign's identity: after an ambiguous failure (no answer, a 5xx)
        the campaign is looked up by name before the command is sent again, and a campaign of
        that name found then is the one returned. Look the name up yourself before calling
        this on a re-run (:meth:`find_campaign`): Blip refuses a name twice.

        :param draft: the campaign, checked first (``utils.campaigns.check_draft``).
        :raises BlipConfigError: the draft is one Blip would refuse.
        """
        campaigns.check_draft(draft)
        envelope = lime.command(
            "set",
            "/campaign/full",
            to=campaigns.POSTMASTER_ACTIVECAMPAIGN,
            content_type=campaigns.FULL_CAMPAIGN_TYPE,
            resource=campaigns.full_campaign(draft),
            envelope_id=command_id("campaign", draft.name),
        )
        landed = lambda: self.find_campaign(draft.name) is not None  # noqa: E731
        body = self._post(
            "/commands", dict(envelope), _command_parser("set", "/campaign/full"), landed=landed
        )
        found = campaigns.Campaign.parse((body or {}).get("resource"))
        if body is None or not found.id:
            # Landed earlier, or answered without an id: the name says which campaign it is.
            again = self.find_campaign(draft.name)
            if again is None or not again.id:
                raise BlipError(f"Blip accepted campaign {draft.name!r} but did not say its id")
            return again.id
        return found.id

    def get_campaign(self, campaign_id: str) -> campaigns.Campaign | None:
        """Read one campaign (``get /campaigns/{id}``); ``None`` when Blip has none with that id."""
        uri = lime.path("campaigns", campaign_id)
        resource = self.get_resource(uri, to=campaigns.POSTMASTER_ACTIVECAMPAIGN, missing_ok=True)
        return None if resource is None else campaigns.Campaign.parse(resource)

    def iter_campaigns(self, *, page_size: int = 100) -> Iterator[campaigns.Campaign]:
        """Yield every campaign of the bot (``get /campaigns``, paged)."""
        items = self.iter_collection(
            "/campaigns", to=campaigns.POSTMASTER_ACTIVECAMPAIGN, page_size=page_size
        )
        return (campaigns.Campaign.parse(item) for item in items)

    def find_campaign(self, name: str) -> campaigns.Campaign | None:
        """Return the campaign named ``name``, paging ``get /campaigns``; ``None`` if there is none."""
        return next((c for c in self.iter_campaigns() if c.name == name), None)

    def get_campaign_summary(self, campaign_id: str) -> campaigns.CampaignSummary:
        """Read a campaign's counts (``get /campaigns/{id}/summaries``; missing counts are 0)."""
        uri = lime.path("campaigns", campaign_id, "summaries")
        resource = self.get_resource(uri, to=campaigns.POSTMASTER_ACTIVECAMPAIGN)
        return campaigns.CampaignSummary.parse(resource, campaign_id)

    def iter_campaign_report(
        self, campaign_id: str, *, page_size: int = 100
    ) -> Iterator[campaigns.CampaignReportRow]:
        """Yield each recipient's line of a campaign's report (``get /campaigns/{id}/reports``, paged)."""
        uri = lime.path("campaigns", campaign_id, "reports")
        items = self.iter_collection(uri, to=campaigns.POSTMASTER_ACTIVECAMPAIGN, page_size=page_size)
        return (campaigns.CampaignReportRow.parse(item) for item in items)

    def cancel_campaign(self, campaign_id: str) -> None:
        """Cancel a campaign not dispatched yet (``delete /campaigns/{id}``)."""
        self.send_command(
            "delete", lime.path("campaigns", campaign_id), to=campaigns.POSTMASTER_ACTIVECAMPAIGN
        )

    def schedule_message(
        self,
        to: str,
        content_type: str,
        content: Any,
        *,
        when: datetime.datetime,
        message_id: str,
        name: str | None = None,
    ) -> campaigns.Schedule:
        """Have Blip send a message at ``when`` (``set /schedules``), once.

        Blip documents no deduplication of schedules, so the id is looked up first: a
        schedule Blip already has under ``message_id`` is returned, not made again, and so is
        one that landed before an ambiguous failure.

        :param to: an identity or a list (``name@broadcast.msging.net``).
        :param when: an aware time; sent as UTC.
        :param message_id: the message's id, the schedule's identity (make it deterministic).
        """
        resource = campaigns.schedule_resource(  # checks `when` before any request
            message_id=message_id, to=to, content_type=content_type, content=content, when=when, name=name
        )
        existing = self.get_schedule(message_id)
        if existing is not None:
            return existing
        envelope = lime.command(
            "set",
            "/schedules",
            to=campaigns.POSTMASTER_SCHEDULER,
            content_type=campaigns.SCHEDULE_TYPE,
            resource=resource,
            envelope_id=command_id("schedule", message_id),
        )
        landed = lambda: self.get_schedule(message_id) is not None  # noqa: E731
        self._post("/commands", dict(envelope), _command_parser("set", "/schedules"), landed=landed)
        return self.get_schedule(message_id) or campaigns.Schedule.parse({"message": resource["message"]})

    def get_schedule(self, message_id: str) -> campaigns.Schedule | None:
        """Read a scheduled message (``get /schedules/{id}``); ``None`` when there is none."""
        uri = lime.path("schedules", message_id)
        resource = self.get_resource(uri, to=campaigns.POSTMASTER_SCHEDULER, missing_ok=True)
        return None if resource is None else campaigns.Schedule.parse(resource)

    def cancel_schedule(self, message_id: str, *, missing_ok: bool = True) -> None:
        """Cancel a scheduled message (``delete /schedules/{id}``); a missing one is fine by default."""
        try:
            self.send_command("delete", lime.path("schedules", message_id), to=campaigns.POSTMASTER_SCHEDULER)
        except BlipNotFoundError:
            if not missing_ok:
                raise

    # -- connection test -------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the key with a harmless read (``get /ping``); never reveals the key."""
        try:
            self.send_command("get", "/ping", to=lime.POSTMASTER)
        except (BlipAuthError, BlipEndpointError) as exc:
            return False, str(exc)  # names the connection and what to check, never the key
        except BlipError as exc:
            return False, f"Blip connection test failed: {exc}"
        return True, f"Connected to Blip at {self.config.base_url}"


def _raise(exc: BaseException) -> Any:
    raise exc


def _command_parser(method: str, uri: str) -> Callable[[Answer], dict[str, Any]]:
    """Parse a command's answer as :meth:`BlipHook.send_command` does: the body, or the typed failure."""

    def parse(response: Answer) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise BlipTransportError(f"Blip answered {method} with a body that is not JSON") from None
        if body.get("status") != "success":
            raise command_error(body, method=method, uri=uri)
        return dict(body)

    return parse


def _json_body(envelope: dict[str, Any]) -> bytes:
    # What requests' json= would send, without its per-call overhead; NaN is not JSON.
    return json.dumps(envelope, separators=(",", ":"), allow_nan=False).encode()


def _describe(path: str, envelope: dict[str, Any]) -> str:
    # Only built when a request fails: the masking regex stays off the success path.
    return f"{path} {mask_identities(str(envelope.get('uri', envelope.get('to', ''))))}"


def _reached_total(resource: Any, seen: int) -> bool:
    # `total` is only a hint for stopping early at the filtered window; a missing or
    # wrong total never ends paging on its own before a short page does.
    total = resource.get("total") if isinstance(resource, dict) else None
    return isinstance(total, int) and seen >= total and seen >= FILTERED_WINDOW
