"""Count what a job would send, and estimate its cost, before anything is spent."""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.utils import runfiles
from airflow_provider_blip.utils.jobs import RunLayout
from airflow_provider_blip.utils.preflight import count_lines, summarize
from airflow_provider_blip.utils.schedule import as_delay

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Context


class BlipPreflightOperator(BaseOperator):
    """Read the split's chunk files and return counts only: rows, valid, invalid, billable, cost.

    One registry read gives the template's category (and so its price line); no number is
    looked up and nothing is sent. The result carries no phone number.

    .. seealso:: docs/templates.md

    :param chunks: the output of
        :class:`~airflow_provider_blip.operators.notify.BlipSplitAudienceOperator`. (templated)
    :param template_name: the template the job sends. (templated)
    :param language: its language. (templated)
    :param prices: category to price per message, e.g. ``{"MARKETING": 0.0625, "UTILITY": 0.008}``
        (no price is built in: Meta's vary by country and date). Optional. (templated)
    :param currency: the prices' currency, shown with the estimate. Optional. (templated)
    :param skip_if_sent_within: the notify task's setting, to count who it would skip. (templated)
    :param read_category: read the template's category from the registry; ``False`` for a
        key that cannot read it (then no cost is estimated).
    :param blip_conn_id: the Blip connection.
    :return: the :class:`~airflow_provider_blip.utils.preflight.Preflight` counts as a dict.
    """

    template_fields = ("chunks", "template_name", "language", "prices", "currency", "skip_if_sent_within")
    ui_color = "#7fbfff"

    def __init__(
        self,
        *,
        chunks: Any,
        template_name: str,
        language: str = "pt_BR",
        prices: Mapping[str, float] | str | None = None,  # str: a Jinja template rendering to a mapping
        currency: str | None = None,
        skip_if_sent_within: Any = None,
        read_category: bool = True,
        blip_conn_id: str = BlipHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chunks = chunks
        self.template_name = template_name
        self.language = language
        self.prices = prices
        self.currency = currency
        self.skip_if_sent_within = skip_if_sent_within
        self.read_category = read_category
        self.blip_conn_id = blip_conn_id

    @cached_property
    def hook(self) -> BlipHook:
        return BlipHook(self.blip_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        if not isinstance(self.chunks, list):
            raise BlipConfigError("chunks must be the split's output: a list of chunk references")
        counts: Counter[str] | None = None
        for ref in self.chunks:
            part = self._count(context["ti"].dag_id, runfiles.storage_path(ref["chunk"]))
            counts = part if counts is None else counts + part
        category = None
        if self.read_category:
            template = self.hook.get_template(self.template_name, self.language)
            category = template.category if template is not None else None
        if isinstance(self.prices, str):  # a Jinja template that did not render to a mapping
            raise BlipConfigError(
                "prices must be a mapping of template category to price per message, e.g. "
                '{"MARKETING": 0.0625}; a templated value needs render_template_as_native_obj=True'
            )
        summary = summarize(
            counts or Counter(), category=category, prices=self.prices, currency=self.currency
        )
        self.log.info("%s", summary.text)
        return summary.to_xcom()

    def _count(self, dag_id: str, chunk: Any) -> Counter[str]:
        window = as_delay(self.skip_if_sent_within, "skip_if_sent_within")
        recently = None
        if window is not None:
            from airflow_provider_blip.utils.ledger import SentLedger

            layout = RunLayout.of_chunk(chunk)
            phones = (line["phone"] for line in runfiles.read_jsonl(chunk) if "status" not in line)
            ledger = SentLedger.load(
                str(layout.root),
                dag_id,
                self.template_name,
                window,
                job_key=layout.directory.name,
                candidates=phones,
                prune=False,
            )
            recently = ledger.recently_sent
        return count_lines(runfiles.read_jsonl(chunk), recently)
