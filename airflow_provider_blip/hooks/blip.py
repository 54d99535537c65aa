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
from airflow_provider_blip.utils import lime
from airflow_provider_blip.utils.concurrency import bounded_map
from airflow_provider_blip.utils.connection import BlipConnectionConfig, parse_connection
from airflow_provider_blip.utils.privacy import mask_identities
from airflow_provider_blip.utils.ratelimit import CHANNELS, STATUS_READS, RateLimiter, shared_limiter
from airflow_provider_blip.utils.registry import ApprovedTemplate
from airflow_provider_blip.utils.status import MessageStatus, reduce_events

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    import requests
    import tenacity
    from requests.models import PreparedRequest
    from urllib3 import HTTPConnectionPool

#: Filtered contact queries may not page past skip + take = 10000 (docs/blip-api-facts.md §6).
FILTERED_WINDOW = 10_000
# Largest $take Blip accepts per collection (docs/blip-api-facts.md §6, §8, §11); others default to 100.
_MAX_TAKE = {"/contacts": 30_000, "/notifications": 100, "/threads": 100}

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


class _Answer:
    """Blip's HTTP answer, whichever client path fetched it: status, headers, body."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _requests_timeout() -> type[Exception]:
    import requests

    return requests.Timeout


def _requests_error() -> type[Exception]:
    import requests

    return requests.RequestException


def _retry_after(response: _Answer) -> float | None:
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
    response: _Answer, path: str, envelope_id: str | None, config: BlipConnectionConfig
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
    ) -> None:
        super().__init__()
        self.blip_conn_id = blip_conn_id
        self._overrides = {"timeout": timeout, "max_retries": max_retries, "concurrency": concurrency}
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        # The one seam tests replace: how the hook waits between retries (429 excepted: that
        # pauses the channel's limiter instead).
        self._sleep: Callable[[float], None] = time.sleep
        self._gate = _Gate()

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
    def _prepared(self) -> dict[str, PreparedRequest]:
        # One prepared POST per endpoint (headers, auth): each request copies it and sets
        # only its body, skipping requests' per-call merging of session settings.
        import requests

        prepared = {}
        for path in _CHANNEL_OF_PATH:
            request = self.session.prepare_request(requests.Request("POST", self.config.base_url + path))
            del request.headers["Content-Length"]  # set per body ("0" for the empty template)
            prepared[path] = request
        return prepared

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
            raise ValueError(f"unknown Blip channel {channel!r}; expected one of {(*CHANNELS, STATUS_READS)}")
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

    @cached_property
    def _pool(self) -> HTTPConnectionPool | None:
        # The session's own urllib3 pool (its TLS settings included), called directly:
        # requests' Session.send costs ~40% more CPU per request, which caps one worker
        # below 1,000 sends/s. Through a proxy, the plain session path is kept.
        if self.session.proxies:
            return None
        template = self._prepared["/messages"]
        adapter = self.session.get_adapter(template.url or "")
        return adapter.get_connection_with_tls_context(template, self.session.verify)  # type: ignore[attr-defined]

    def _post_once(self, path: str, envelope: dict[str, Any]) -> _Answer:
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

    def _attempt(self, path: str, envelope: dict[str, Any]) -> _Answer:
        import urllib3

        if self._gate.fatal is not None:  # another thread's answer was fatal meanwhile
            self._gate.raise_fatal()
        body = _json_body(envelope)
        self._limiters[_CHANNEL_OF_PATH[path]].acquire()
        try:
            return self._check(path, envelope, self._send(path, body))
        except (urllib3.exceptions.TimeoutError, _requests_timeout()):
            described = _describe(path, envelope)
            raise BlipTimeoutError(
                f"Blip did not answer {described} within {self.config.timeout}s", uri=described
            ) from None
        except (urllib3.exceptions.HTTPError, _requests_error()) as exc:
            # `from None`: the exception may repeat the proxy URL; keep only its class.
            described = _describe(path, envelope)
            raise BlipTransportError(
                f"no answer from Blip for {described}: {type(exc).__name__}", uri=described
            ) from None

    def _send(self, path: str, body: bytes) -> _Answer:
        template = self._prepared[path]
        pool = self._pool
        if pool is None:
            request = template.copy()
            request.prepare_body(body, None)
            response = self.session.send(request, timeout=self.config.timeout)
            return _Answer(response.status_code, response.headers, response.content)
        raw = pool.urlopen(
            "POST",
            template.path_url,
            body=body,
            headers=template.headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            preload_content=True,
            timeout=self.config.timeout,
        )
        return _Answer(raw.status, raw.headers, raw.data)

    def _check(self, path: str, envelope: dict[str, Any], answer: _Answer) -> _Answer:
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
        parse: Callable[[_Answer], Any],
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

        def parse(response: _Answer) -> dict[str, Any]:
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
            raise ValueError("page_size must be at least 1")
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
