"""Send a WhatsApp template through Blip from Airflow callbacks (on-call alerts)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from airflow_provider_blip.exceptions import BlipError, InvalidPhoneNumber
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.utils.phone import parse_phone
from airflow_provider_blip.utils.privacy import mask_phone
from airflow_provider_blip.utils.templates import literal_content

if TYPE_CHECKING:
    from airflow.sdk import Context


class BlipNotifier(BaseNotifier):
    """Send an approved WhatsApp template to on-call numbers, e.g. from ``on_failure_callback``.

    Each number is parsed, looked up (its ``alternativeAccount`` is what gets the message)
    and sent to on its own: one bad number never stops the alert reaching the others.

    .. seealso:: docs/notifications/blip.md

    :param to: on-call phone numbers (E.164 or national with ``default_region``). (templated)
    :param template_name: the approved template. (templated)
    :param language: its language code. (templated)
    :param body: literal body values, usually templated, e.g. ``["{{ dag.dag_id }}"]``. (templated)
    :param default_region: region of numbers written without country code.
    :param blip_conn_id: the Blip connection. (templated)
    """

    template_fields = ("to", "template_name", "language", "body", "blip_conn_id")

    def __init__(
        self,
        *,
        to: list[str] | str,
        template_name: str,
        language: str = "pt_BR",
        body: list[str | dict[str, str]] | None = None,
        default_region: str = "BR",
        blip_conn_id: str = BlipHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.template_name = template_name
        self.language = language
        self.body = body
        self.default_region = default_region
        self.blip_conn_id = blip_conn_id

    @property
    def hook(self) -> BlipHook:
        """Return a new hook on every call.

        A notifier outlives one callback (it is built with the DAG file and may be kept by a
        long-lived process), so it reads the connection each time.
        """
        return BlipHook(self.blip_conn_id)

    def notify(self, context: Context) -> None:
        content = literal_content(template_name=self.template_name, language=self.language, body=self.body)
        numbers = [self.to] if isinstance(self.to, str) else list(self.to)
        hook = self.hook
        sent = 0
        for raw in numbers:
            sent += self._send_one(hook, raw, content)
        if numbers and not sent:
            raise BlipError(f"the Blip alert reached none of its {len(numbers)} recipient(s)")

    def _send_one(self, hook: BlipHook, raw: str, content: dict[str, Any]) -> bool:
        try:
            phone = parse_phone(raw, self.default_region)
            account = hook.get_whatsapp_account(phone)
            if not account:
                raise BlipError("Blip returned no alternativeAccount")
            message_id = hook.send_message(account, "application/json", content)
        except (InvalidPhoneNumber, BlipError) as exc:
            self.log.warning("Blip alert to %s not sent: %s", mask_phone(raw), exc)
            return False
        self.log.info("Blip alert sent to %s (message %s)", mask_phone(raw), message_id)
        return True

    async def async_notify(self, context: Context) -> None:
        """Run :meth:`notify` in a thread, for callbacks that run in the triggerer."""
        await asyncio.to_thread(self.notify, context)


send_blip_notification = BlipNotifier
