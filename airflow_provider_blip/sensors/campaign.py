"""Wait for Active Campaigns to finish, then write each recipient's outcome to the run files."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.jobs.policy import DEFAULT_MAX_FAILED_RATIO, apply_failure_policy, check_ratio
from airflow_provider_blip.sensors.blip import write_delivery
from airflow_provider_blip.triggers.blip import DEFAULT_UNKNOWN_AFTER, reported_error
from airflow_provider_blip.triggers.campaign import BlipCampaignTrigger, CampaignWait, row_settled
from airflow_provider_blip.utils.campaigns import CampaignReportRow, CampaignStatus, normalise_phone
from airflow_provider_blip.utils.results import RecipientStatus
from airflow_provider_blip.utils.runfiles import read_jsonl, storage_path
from airflow_provider_blip.utils.status import TARGETS, MessageStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Context

    from airflow_provider_blip.utils.refs import DeliveryRef

# What a recipient of a campaign that did not go out becomes.
_NOT_DISPATCHED = {
    CampaignStatus.CANCELED: (RecipientStatus.NOT_SENT, "the campaign was canceled before Blip sent it"),
    CampaignStatus.FAILED: (RecipientStatus.SEND_FAILED, "Blip reported the campaign Failed"),
}
_SILENT = "Blip's campaign report did not say this recipient was delivered by the wait's deadline"


class BlipCampaignSensor(BaseSensorOperator):
    """Wait until every campaign a :class:`~.operators.campaign.BlipCampaignOperator` made is final.

    Then, for a ``Sent`` campaign, until each recipient's line of Blip's report has failed or
    reached ``target`` (or ``unknown_after`` has passed since the first read). It then reads
    every report once more and writes, per campaign, the same result rows and statuses as the
    chunked job (``delivery-campaign.jsonl`` next to the campaign's rows), so the same report
    step works; the failure policy is applied over the recipients handed to Blip. With
    ``deferrable=True`` the wait runs in the triggerer, which only reads.

    .. seealso:: docs/campaigns.md

    :param campaigns: the campaign operator's output. (templated)
    :param target: ``accepted``, ``received`` (default) or ``consumed``. (templated)
    :param blip_conn_id: the Blip connection. (templated)
    :param max_failed_ratio: share of recipients that may end ``failed`` before the task fails.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param poke_interval: seconds between rounds (doubled in the triggerer up to ``max_wait``).
    :param max_wait: the longest wait between two rounds in the triggerer, in seconds.
    :param unknown_after: seconds after the first read at which recipients still not settled
        are given up on: a line without a final status becomes ``delivery_unknown``.
    :return: per campaign ``{"delivery": uri, "rows": n, "counts": {...}}``: no phone number.
    """

    template_fields = ("campaigns", "target", "blip_conn_id")
    ui_color = "#9AE6F0"

    def __init__(
        self,
        *,
        campaigns: Any,
        target: str = "received",
        blip_conn_id: str = BlipHook.default_conn_name,
        max_failed_ratio: float = DEFAULT_MAX_FAILED_RATIO,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 5.0,
        max_wait: float = 60.0,
        unknown_after: float = DEFAULT_UNKNOWN_AFTER,
        timeout: float = 6 * 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        if isinstance(unknown_after, bool) or not unknown_after >= 0:
            raise BlipConfigError(f"unknown_after must be a number of seconds >= 0, got {unknown_after!r}")
        self.campaigns = campaigns
        self.target = target
        self.blip_conn_id = blip_conn_id
        self.max_failed_ratio = check_ratio(max_failed_ratio)
        self.deferrable = deferrable
        self.max_wait_seconds = float(max_wait)
        self.unknown_after = float(unknown_after)
        self._wait: CampaignWait | None = None

    @cached_property
    def hook(self) -> BlipHook:
        """The task's hook (built on first use)."""
        return BlipHook(self.blip_conn_id)

    def _parts(self) -> list[dict[str, Any]]:
        parts = self.campaigns if isinstance(self.campaigns, list) else [self.campaigns]
        if not all(isinstance(p, dict) and "rows" in p for p in parts):
            raise BlipConfigError("campaigns must be the output of BlipCampaignOperator")
        return list(parts)

    def _target(self) -> MessageStatus:
        if self.target not in {t.value for t in TARGETS}:
            raise BlipConfigError(f"target must be one of {[t.value for t in TARGETS]}, got {self.target!r}")
        return MessageStatus(self.target)

    def _campaign_wait(self, context: Context) -> CampaignWait:
        # Built at the first poke, which is the wait's first read: the deadline counts from it.
        if self._wait is None:
            ids = [str(p["campaign_id"]) for p in self._parts() if p.get("campaign_id")]
            self._wait = CampaignWait(ids, self._target(), self._first_read_at(context) + self.unknown_after)
        return self._wait

    def _first_read_at(self, context: Context) -> float:
        # In reschedule mode every poke is a new process: the first one's time is Airflow's.
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return float(first.timestamp())
        return time.time()

    def poke(self, context: Context) -> PokeReturnValue:
        wait = self._campaign_wait(context)
        done = wait.round(self.hook, time.time())
        self.log.info("Blip campaigns: %s", wait.statuses or "none to wait for")
        return PokeReturnValue(is_done=done, xcom_value=dict(wait.statuses) if done else None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            super().execute(context)
            return self.finish(dict(self._campaign_wait(context).statuses))
        first = self.poke(context)
        if first.is_done:
            return self.finish(dict(self._campaign_wait(context).statuses))
        wait = self._campaign_wait(context)
        self.defer(
            trigger=BlipCampaignTrigger(
                campaign_ids=wait.campaign_ids,
                target=wait.target.value,
                blip_conn_id=self.blip_conn_id,
                deadline=wait.deadline,
                poll_interval=self.poke_interval,
                max_poll_interval=self.max_wait_seconds,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Write the reports once the trigger says the wait is over, or raise the error it reports."""
        if event.get("status") != "success":
            error = reported_error(event)
            error.add_note("raised in the triggerer while waiting for Blip campaigns")
            raise error
        return self.finish(dict(event.get("campaigns") or {}))

    def finish(self, statuses: Mapping[str, str]) -> list[DeliveryRef]:
        """Read each campaign's report, write its result rows, apply the failure policy."""
        target = self._target()
        outputs, results, followed = [], [], []
        for part in self._parts():
            campaign_id = part.get("campaign_id")
            status = CampaignStatus.parse(statuses.get(str(campaign_id))) if campaign_id else None
            report = self._report(str(campaign_id)) if status is CampaignStatus.SENT else {}
            rows = []
            for row in read_jsonl(storage_path(part["rows"])):
                if row.get("status") == RecipientStatus.SENT:  # handed to Blip in this campaign
                    row = _outcome(row, status, report, target)
                    followed.append(row)
                rows.append(row)
            results.extend(rows)
            outputs.append(write_delivery(part["rows"], rows))
        apply_failure_policy(self.log, "campaign delivery", results, followed, self.max_failed_ratio)
        return outputs

    def _report(self, campaign_id: str) -> dict[str, CampaignReportRow]:
        return {row.phone: row for row in self.hook.iter_campaign_report(campaign_id)}


def _outcome(
    row: Mapping[str, Any],
    status: CampaignStatus | None,
    report: Mapping[str, CampaignReportRow],
    target: MessageStatus,
) -> dict[str, Any]:
    """One recipient's final row, from its campaign's status and its line of the report."""
    base = {"row": row["row"], "phone": row["phone"]}
    if status is not None and status in _NOT_DISPATCHED:
        final, reason = _NOT_DISPATCHED[status]
        return {**base, "status": final.value, "reason": reason}
    line = report.get(normalise_phone(str(row["phone"])))
    if line is None or not line.status or line.status not in {s.value for s in MessageStatus}:
        return {**base, "status": RecipientStatus.DELIVERY_UNKNOWN.value, "reason": _SILENT}
    entry: dict[str, Any] = {**base, "status": line.status}
    if line.message_id:
        entry["message_id"] = line.message_id
    if line.status == MessageStatus.FAILED:
        entry["reason"] = line.reason or "no reason given"
        if line.reason_code is not None:
            entry["code"] = line.reason_code
    elif not row_settled(line, target):
        entry["reason"] = f"{line.status} at the wait's deadline (target {target.value})"
    return entry
