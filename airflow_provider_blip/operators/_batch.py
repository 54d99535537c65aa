"""The base of the per-recipient operators: the hook, the failure policy, the report."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.jobs.policy import DEFAULT_MAX_FAILED_RATIO, apply_failure_policy, check_ratio
from airflow_provider_blip.utils.concurrency import bounded_map

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


class BlipBatchOperator(BaseOperator):
    """Base of the operators that act on many recipients and report on each one.

    :param blip_conn_id: the Blip connection. (templated)
    :param max_failed_ratio: the share of recipients that may fail (invalid number, not on
        WhatsApp, refused by Blip...) before the task fails; failures below it are reported,
        not raised. ``0`` fails on the first failure, ``1`` never fails.
    """

    template_fields: tuple[str, ...] = ("blip_conn_id",)
    ui_color = "#2CC3D5"
    step = "blip"

    def __init__(
        self,
        *,
        blip_conn_id: str = BlipHook.default_conn_name,
        max_failed_ratio: float = DEFAULT_MAX_FAILED_RATIO,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.blip_conn_id = blip_conn_id
        self.max_failed_ratio = check_ratio(max_failed_ratio)

    @cached_property
    def hook(self) -> BlipHook:
        """The hook of this task (built on first use, never at parse time)."""
        return BlipHook(self.blip_conn_id)

    def finish(
        self, results: list[dict[str, Any]], acted: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Log every recipient's outcome (masked), apply the failure policy, return ``results``.

        :param acted: the rows this step worked on. Default: all rows.
        """
        return apply_failure_policy(
            self.log, self.step, results, results if acted is None else acted, self.max_failed_ratio
        )

    def run_each(
        self,
        records: list[dict[str, Any]],
        apply: Callable[[dict[str, Any]], dict[str, Any]],
        eligible: Callable[[Mapping[str, Any]], bool],
    ) -> list[dict[str, Any]]:
        """Apply ``apply`` to the eligible rows in parallel, pass the others through, finish."""
        flags = [eligible(r) for r in records]
        step = lambda pair: apply(pair[0]) if pair[1] else pair[0]  # noqa: E731
        results = list(
            bounded_map(step, zip(records, flags, strict=True), workers=self.hook.config.concurrency)
        )
        return self.finish(results, [r for r, flag in zip(results, flags, strict=True) if flag])
