"""Trigger that waits in the triggerer for Blip messages to settle. It only reads."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_blip.exceptions import BlipError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.utils.results import SENT_STATUSES
from airflow_provider_blip.utils.status import MessageStatus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class BlipMessageStatusTrigger(BaseTrigger):
    """Poll ``get /notifications?id=`` until every message reached ``target`` or failed.

    Safe to replay after a triggerer restart: it never sends anything, it only reads.

    :param message_ids: the messages to follow.
    :param target: ``accepted``, ``received`` or ``consumed``.
    :param results: result files of :class:`~airflow_provider_blip.operators.notify.BlipNotifyOperator`
        whose messages to follow too: the trigger reads the ids itself, so its stored
        arguments stay small whatever the chunk size.
    :param blip_conn_id: the Blip connection.
    :param poll_interval: seconds between two rounds of reads.
    """

    def __init__(
        self,
        *,
        message_ids: list[str],
        target: str,
        blip_conn_id: str,
        poll_interval: float = 30,
        results: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.message_ids = list(message_ids)
        self.results = list(results or [])
        self.target = target
        self.blip_conn_id = blip_conn_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_blip.triggers.blip.BlipMessageStatusTrigger",
            {
                "message_ids": self.message_ids,
                "target": self.target,
                "blip_conn_id": self.blip_conn_id,
                "poll_interval": self.poll_interval,
                "results": self.results,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        target = MessageStatus(self.target)
        hook = BlipHook(self.blip_conn_id)
        statuses: dict[str, tuple[str, dict[str, Any] | None]] = {}
        try:
            pending = self.message_ids + await asyncio.to_thread(_ids_in_files, self.results)
            total = len(pending)
            while True:
                # The sync hook (its retry policy, limits and errors) runs in a thread: no
                # blocking call on the triggerer's event loop.
                statuses.update(await asyncio.to_thread(hook.get_message_statuses, pending))
                pending = [m for m in pending if not settled(statuses[m][0], target)]
                if not pending:
                    break
                self.log.info("%d of %d messages still on their way", len(pending), total)
                await asyncio.sleep(self.poll_interval)
        except BlipError as exc:
            yield TriggerEvent({"status": "error", "message": str(exc), "error_type": type(exc).__name__})
            return
        yield TriggerEvent({"status": "success", "statuses": statuses})


def _ids_in_files(uris: list[str]) -> list[str]:
    from airflow_provider_blip.utils.runfiles import read_jsonl, storage_path

    return [
        row["message_id"] for uri in uris for row in read_jsonl(storage_path(uri)) if awaits_delivery(row)
    ]


def awaits_delivery(row: dict[str, Any]) -> bool:
    """Tell whether a result row is a message Blip accepted, whose delivery is to be followed."""
    return bool(row.get("message_id")) and row.get("status") in SENT_STATUSES


def settled(status: str, target: MessageStatus) -> bool:
    """Tell whether a message is done: it failed, or reached ``target``."""
    value = MessageStatus(status)
    return value == MessageStatus.FAILED or value.reached(target)
