"""Every error the Blip provider raises, in one tree.

Catch at whichever level suits you::

    BlipError (AirflowException)
    ├── BlipConfigError         †  the connection or an argument is unusable (nothing was sent)
    │   └── BlipAudienceError      the audience cannot be read: missing, wrong format or encoding
    ├── BlipValueError             one recipient's value cannot be used (the row is rejected)
    │   ├── InvalidPhoneNumber     not a valid phone number (the reason never repeats it)
    │   └── TemplateValueError     a template parameter's value
    │       ├── MissingValue       the column is missing from the row, or empty
    │       └── InvalidValue       WhatsApp would refuse it (newline, too long, not http...)
    ├── BlipBatchError             too many recipients of a batch failed (max_failed_ratio)
    ├── BlipPagingLimitError       a paged read would cross a documented Blip limit
    ├── BlipTransportError         no usable HTTP answer: timeout, dropped connection, proxy failure
    │   └── BlipTimeoutError       the request timed out
    ├── BlipHTTPError              Blip answered with a non-2xx status
    │   ├── BlipAuthError       †  401, 403: the bot key was refused
    │   ├── BlipEndpointError   †  404 from the endpoint itself: the base URL is not Blip's API
    │   ├── BlipBadRequestError    400 and other 4xx: the envelope was refused (never retried)
    │   ├── BlipRateLimitError     429: over the plan's throughput (the channel pauses, then retried)
    │   └── BlipServerError        5xx and 504 (retried)
    └── BlipCommandError           HTTP 200 but the command answered ``status: failure``
        └── BlipNotFoundError      ... with LIME reason 67 (resource not found)

† Fatal: also :class:`~airflow.sdk.exceptions.AirflowFailException`, so the task fails at
once without Airflow retries (nothing a retry changes). After a fatal answer a hook sends
nothing more: every later request on it raises the same error without leaving the process.

Retryable errors are :class:`BlipTransportError`, :class:`BlipRateLimitError` and
:class:`BlipServerError`; :attr:`BlipError.retryable` says so on every instance. No error text
ever carries the bot key: messages are built from status codes, URIs and Blip's reason only.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_blip.utils.privacy import mask_identities

#: LIME reason code that Blip SDKs read as "not found" (docs/blip-api-facts.md §1.5).
REASON_NOT_FOUND = 67


class BlipError(AirflowException):
    """Base class of every Blip provider error."""

    retryable: bool = False


class BlipConfigError(BlipError, AirflowFailException, ValueError):
    """The connection or an argument cannot be used; nothing was sent to Blip.

    Fatal: the same on every try, so the task fails without Airflow retries.
    """


class BlipAudienceError(BlipConfigError):
    """The audience cannot be read as a whole: missing, unreadable, not in its format or encoding.

    The message names the file (without a URL's query string) and, when one row is at fault,
    its row number and column; never a row's content. A single malformed row is not an
    error: it is reported as a rejected row and the rest of the file is read.
    """


class BlipValueError(BlipError, ValueError):
    """One recipient's value cannot be used: the job rejects that row and goes on with the rest.

    Not fatal on its own: the batch steps record it against the row. Its text never carries
    the value (a phone number or a template parameter is personal data).
    """


class InvalidPhoneNumber(BlipValueError):
    """A value from an audience is not a valid phone number.

    :param reason: short and human, e.g. ``"empty"``, ``"too short"`` or
        ``"not a valid number for region BR"``; it never repeats the number (LGPD).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class TemplateValueError(BlipValueError):
    """A value for one template parameter cannot be used.

    :param field: which parameter, e.g. ``"body[2] (column 'order_id')"``; ``body[n]`` is the
        template's ``{{n}}`` and ``button[i]`` the button with index ``i``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class MissingValue(TemplateValueError):
    """A column a template parameter reads is missing from the row, or empty."""


class InvalidValue(TemplateValueError):
    """A template parameter has a value WhatsApp would refuse: a newline in the body, too long, not http.

    The message names the parameter and its column, never the value.
    """


class BlipBatchError(BlipError):
    """Too many recipients of a batch failed: more than the task's ``max_failed_ratio``.

    :param summary: counts per status, e.g. ``{"sent": 97, "invalid_number": 3}``.
    :param failed: how many recipients count as failed.
    :param total: how many recipients the batch had.
    """

    def __init__(self, message: str, *, summary: dict[str, int], failed: int, total: int) -> None:
        super().__init__(message)
        self.summary = summary
        self.failed = failed
        self.total = total


class BlipPagingLimitError(BlipError):
    """A paged read would go past a limit Blip documents (for example skip + take <= 10000)."""


class BlipTransportError(BlipError):
    """No usable HTTP answer came back (timeout, dropped connection, proxy failure)."""

    retryable = True

    def __init__(self, message: str, *, uri: str | None = None) -> None:
        super().__init__(message)
        self.uri = uri


class BlipTimeoutError(BlipTransportError):
    """The request timed out before Blip answered."""


class BlipHTTPError(BlipError):
    """Blip answered with a non-2xx HTTP status.

    :param status_code: the HTTP status, kept as ``http_status`` (Airflow's own ``status_code``
        attribute means something else).
    :param path: the endpoint (``/commands``, ``/messages`` or ``/notifications``).
    :param envelope_id: the id of the envelope that was refused, when it had one.
    :param body: the start of the answer body (masked), to help diagnose a 400.
    :param retry_after: the seconds Blip asked us to wait (``Retry-After``), if it said.
    :param message: the error text, when a subclass says more than the status and path.
    """

    def __init__(
        self,
        status_code: int,
        *,
        path: str,
        envelope_id: str | None = None,
        body: str = "",
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        self.http_status = status_code
        self.path = path
        self.envelope_id = envelope_id
        self.body = mask_identities(body[:500])
        self.retry_after = retry_after
        detail = f": {self.body}" if self.body else ""
        super().__init__(
            message or f"Blip answered HTTP {status_code} on {path} (envelope {envelope_id}){detail}"
        )


class BlipAuthError(BlipHTTPError, AirflowFailException):
    """Blip refused the bot key (HTTP 401 or 403): nothing will work with this connection.

    Fatal. The text names the connection and the base URL, never the key, and what to check.
    The answer's body is never kept: a proxy could echo the ``Authorization`` header in it.

    :param conn_id: the Airflow connection whose key was refused.
    :param base_url: the base URL the request went to.
    """

    def __init__(
        self,
        status_code: int,
        *,
        path: str,
        conn_id: str | None = None,
        base_url: str | None = None,
        envelope_id: str | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.base_url = base_url
        message = (
            f"Blip refused the bot key of connection {conn_id!r} (HTTP {status_code} from "
            f"{base_url or 'Blip'}{path}): check the connection's Bot key (password) field, copied "
            "from the portal's HTTP connection information; for a router bot, use the router's "
            "key, not a sub-bot's"
        )
        super().__init__(
            status_code, path=path, envelope_id=envelope_id, retry_after=retry_after, message=message
        )


class BlipEndpointError(BlipHTTPError, AirflowFailException):
    """The endpoint itself answered 404: the connection's base URL does not lead to Blip's API.

    Fatal. Not a command's "not found" (that is :class:`BlipNotFoundError`, HTTP 200).

    :param conn_id: the Airflow connection.
    :param url: the URL that answered 404 (base URL plus ``/commands`` and so on).
    """

    def __init__(
        self,
        status_code: int,
        *,
        path: str,
        conn_id: str | None = None,
        url: str | None = None,
        envelope_id: str | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.url = url
        message = (
            f"Blip connection {conn_id!r}: {url or path} answered HTTP {status_code}, so it is not "
            "Blip's HTTP API: check the connection's Host (Base URL); Blip's endpoints sit right "
            "under it, as in https://myorg.http.msging.net/commands (leave Host empty to use the "
            "organization id)"
        )
        super().__init__(
            status_code, path=path, envelope_id=envelope_id, retry_after=retry_after, message=message
        )


class BlipBadRequestError(BlipHTTPError):
    """Blip refused the envelope as badly formed (HTTP 400 and other 4xx)."""


class BlipRateLimitError(BlipHTTPError):
    """Blip refused the request for going over the plan's throughput (HTTP 429)."""

    retryable = True


class BlipServerError(BlipHTTPError):
    """Blip failed or timed out on its side (HTTP 5xx, 504)."""

    retryable = True


class BlipCommandError(BlipError):
    """A command came back HTTP 200 with ``status: failure``.

    :param code: the LIME reason code (see docs/blip-api-facts.md §1.5), or None when Blip sent none.
    :param description: Blip's reason description.
    :param method: the command method (``get``, ``set``, ``delete``...).
    :param uri: the command URI, with phone numbers masked.
    :param envelope_id: the command id.
    """

    def __init__(
        self,
        *,
        code: int | None,
        description: str,
        method: str,
        uri: str,
        envelope_id: str | None,
        response: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.description = description
        self.method = method
        self.uri = mask_identities(uri)
        self.envelope_id = envelope_id
        self.response = response or {}
        super().__init__(
            f"Blip command {method} {self.uri} failed with reason {code}: "
            f"{mask_identities(description)} (id {envelope_id})"
        )


class BlipNotFoundError(BlipCommandError):
    """A command failed with LIME reason 67: the resource does not exist."""


def command_error(response: dict[str, Any], *, method: str, uri: str) -> BlipCommandError:
    """Build the typed error for a failed command response envelope."""
    reason = response.get("reason") or {}
    code = reason.get("code")
    cls = BlipNotFoundError if code == REASON_NOT_FOUND else BlipCommandError
    return cls(
        code=code,
        description=str(reason.get("description") or "no reason given"),
        method=method,
        uri=uri,
        envelope_id=response.get("id"),
        response=response,
    )
