"""The wire under :class:`~airflow_provider_blip.hooks.blip.BlipHook`: one POST, one answer.

The hook decides what to send, when, and what an answer means; a transport only carries
bytes. It is the one seam between the hook and the HTTP client, as httpx's transports are:
``BlipHook(transport=...)`` takes any object with :meth:`Transport.post`, which is how a
test can stand in for the network without patching requests.

Two transports ship, chosen by :func:`transport_for`:

- :class:`PoolTransport` calls the session's own urllib3 pool directly (its TLS settings
  included): requests' ``Session.send`` costs about 40% more CPU per request, which would cap
  one worker below 1,000 sends a second.
- :class:`SessionTransport` goes through ``requests.Session.send``, for a proxy (from the
  connection's ``proxy`` extra or the environment), which the direct pool does not speak.

Either raises :class:`~airflow_provider_blip.exceptions.BlipTimeoutError` or
:class:`~airflow_provider_blip.exceptions.BlipTransportError` when no answer came, naming
only the client's exception class (its text may repeat a proxy URL with credentials).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_blip.exceptions import BlipTimeoutError, BlipTransportError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import requests
    from requests.models import PreparedRequest


class Answer:
    """Blip's HTTP answer, whichever transport fetched it: status, headers, body."""

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


class Transport(Protocol):
    """Carries one POST to Blip and returns its answer, whatever the status code."""

    def post(self, path: str, body: bytes) -> Answer:
        """POST ``body`` to ``path`` (``/commands``, ``/messages`` or ``/notifications``).

        :raises BlipTimeoutError: no answer within the connection's timeout.
        :raises BlipTransportError: no usable answer (refused, dropped, proxy failure).
        """
        ...


class _Prepared:
    """One prepared POST per path (headers, auth): each request copies it and sets only its body."""

    def __init__(self, session: requests.Session, base_url: str, paths: tuple[str, ...]) -> None:
        import requests

        self.requests: dict[str, PreparedRequest] = {}
        for path in paths:
            request = session.prepare_request(requests.Request("POST", base_url + path))
            del request.headers["Content-Length"]  # set per body ("0" for the empty template)
            self.requests[path] = request


class SessionTransport:
    """Through ``requests.Session.send``: proxies and everything else requests supports.

    :param session: the hook's configured session (auth, headers, TLS, proxies).
    :param base_url: Blip's base URL, from the connection.
    :param timeout: seconds to wait for an answer.
    :param paths: the paths it will be asked to POST to.
    """

    def __init__(
        self, session: requests.Session, base_url: str, timeout: float, paths: tuple[str, ...]
    ) -> None:
        self.session = session
        self.timeout = timeout
        self._prepared = _Prepared(session, base_url, paths).requests

    def post(self, path: str, body: bytes) -> Answer:
        import requests

        request = self._prepared[path].copy()
        request.prepare_body(body, None)
        try:
            response = self.session.send(request, timeout=self.timeout)
        except requests.Timeout:
            raise BlipTimeoutError("no answer in time") from None
        except requests.RequestException as exc:
            raise BlipTransportError(f"no answer: {type(exc).__name__}") from None
        return Answer(response.status_code, response.headers, response.content)


class PoolTransport(SessionTransport):
    """Straight to the session's urllib3 connection pool (no proxy), for throughput."""

    def __init__(
        self, session: requests.Session, base_url: str, timeout: float, paths: tuple[str, ...]
    ) -> None:
        super().__init__(session, base_url, timeout, paths)
        template = next(iter(self._prepared.values()))
        adapter = session.get_adapter(template.url or "")
        self.pool = adapter.get_connection_with_tls_context(template, session.verify)  # type: ignore[attr-defined]

    def post(self, path: str, body: bytes) -> Answer:
        import urllib3

        template = self._prepared[path]
        try:
            raw = self.pool.urlopen(
                "POST",
                template.path_url,
                body=body,
                headers=template.headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=True,
                timeout=self.timeout,
            )
        except urllib3.exceptions.TimeoutError:
            raise BlipTimeoutError("no answer in time") from None
        except urllib3.exceptions.HTTPError as exc:
            raise BlipTransportError(f"no answer: {type(exc).__name__}") from None
        return Answer(raw.status, raw.headers, raw.data)


def transport_for(
    session: requests.Session, base_url: str, timeout: float, paths: tuple[str, ...]
) -> Transport:
    """Pick the transport for a configured session: the direct pool unless a proxy is set."""
    cls = SessionTransport if session.proxies else PoolTransport
    return cls(session, base_url, timeout, paths)
