"""Wait in the triggerer for Active Campaigns to finish and their recipients to settle. It only reads.

The module also holds what the sensor and its trigger share (:class:`CampaignWait`): one round
reads each campaign not final yet (``get /campaigns/{id}``) and, once every campaign is final,
the reports of the sent ones; the wait is over when every recipient has failed or reached the
target, or at the deadline for the silent ones. Every read takes the ``status_reads`` budget
of the connection on top of the commands one, as the delivery sensor's do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_blip.exceptions import BlipError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.triggers.blip import error_event, next_interval
from airflow_provider_blip.utils.campaigns import CampaignReportRow, CampaignStatus
from airflow_provider_blip.utils.ratelimit import STATUS_READS
from airflow_provider_blip.utils.status import MessageStatus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

# Seams for tests, as in triggers/blip.py: wall time (the deadline crosses processes).
clock = time.time
sleep = asyncio.sleep

_EVENTS = {s.value for s in MessageStatus} - {MessageStatus.UNKNOWN.value}


def row_settled(row: CampaignReportRow, target: MessageStatus) -> bool:
    """Tell whether a report line is final for this wait: failed, or at the target or beyond."""
    if row.status not in _EVENTS:
        return False
    status = MessageStatus(row.status)
    return status == MessageStatus.FAILED or status.reached(target)


@dataclasses.dataclass
class CampaignWait:
    """What one wait knows of its campaigns (statuses) and whether it is over.

    :param campaign_ids: the campaigns followed.
    :param target: the delivery status that counts as done (``failed`` always does).
    :param deadline: epoch seconds after which recipients not settled are given up on.
    """

    campaign_ids: list[str]
    target: MessageStatus
    deadline: float
    statuses: dict[str, str] = dataclasses.field(default_factory=dict)

    def pending(self) -> list[str]:
        """Campaigns not final yet."""
        return [c for c in self.campaign_ids if not CampaignStatus.parse(self.statuses.get(c)).final]

    def round(self, hook: BlipHook, now: float) -> bool:
        """Read what is needed this round; return whether the wait is over."""
        reads = hook.limiter(STATUS_READS)
        for campaign_id in self.pending():
            reads.acquire()
            campaign = hook.get_campaign(campaign_id)
            if campaign is None:
                raise BlipError(f"Blip has no campaign {campaign_id} any more (get /campaigns/{campaign_id})")
            self.statuses[campaign_id] = campaign.status.value
        if self.pending():
            return False
        if now >= self.deadline:
            return True
        for campaign_id in self.campaign_ids:
            if CampaignStatus.parse(self.statuses[campaign_id]) is not CampaignStatus.SENT:
                continue
            reads.acquire()
            if not all(row_settled(row, self.target) for row in hook.iter_campaign_report(campaign_id)):
                return False
        return True


class BlipCampaignTrigger(BaseTrigger):
    """Poll campaigns (and then their reports) until the wait is over; never sends anything.

    :param campaign_ids: the campaigns to follow.
    :param target: ``accepted``, ``received`` or ``consumed``.
    :param blip_conn_id: the Blip connection.
    :param deadline: epoch seconds after which recipients not settled are given up on (kept by
        ``serialize``, so a restarted triggerer keeps it).
    :param poll_interval: seconds before the first round; doubled after each round.
    :param max_poll_interval: the longest wait between two rounds.
    """

    def __init__(
        self,
        *,
        campaign_ids: list[str],
        target: str,
        blip_conn_id: str,
        deadline: float,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.campaign_ids = list(campaign_ids)
        self.target = target
        self.blip_conn_id = blip_conn_id
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_blip.triggers.campaign.BlipCampaignTrigger",
            {
                "campaign_ids": self.campaign_ids,
                "target": self.target,
                "blip_conn_id": self.blip_conn_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = BlipHook(self.blip_conn_id)
        wait = CampaignWait(self.campaign_ids, MessageStatus(self.target), self.deadline)
        interval = self.poll_interval
        try:
            while True:
                await sleep(interval)
                # The sync hook (pacing, retries, errors) runs in a thread: the loop never blocks.
                if await asyncio.to_thread(wait.round, hook, clock()):
                    break
                self.log.info(
                    "%d of %d campaigns not final yet, or recipients on their way",
                    len(wait.pending()),
                    len(self.campaign_ids),
                )
                interval = next_interval(interval, self.max_poll_interval)
        except BlipError as exc:
            yield TriggerEvent(error_event(exc))
            return
        yield TriggerEvent({"status": "success", "campaigns": dict(wait.statuses)})
