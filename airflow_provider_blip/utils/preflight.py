"""The preflight's numbers: what a job would send and roughly what it would cost (no I/O).

Counts only: no phone number, no row content, so the summary can go to XCom, logs and an
approval screen. Prices are the user's (Meta's change by country, category and date; none is
built in): a table of category to price per delivered message.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.results import RecipientStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

_INVALID = (RecipientStatus.INVALID_NUMBER.value, RecipientStatus.INVALID_VALUES.value)


@dataclasses.dataclass(frozen=True)
class Preflight:
    """The summary of a job before anything is spent.

    :param rows: audience rows.
    :param valid: rows that would be looked up.
    :param invalid: invalid rows by reason (``invalid_number``, ``invalid_values``).
    :param duplicates: rows with a number seen earlier in the audience.
    :param recently_sent: valid rows that ``skip_if_sent_within`` would skip.
    :param billable: template messages that would be sent (``valid - recently_sent``).
    :param category: the template's category from the registry (``None`` when not read).
    :param estimated_cost: ``billable`` times the category's price, ``None`` without a price.
    :param currency: the price table's currency, as the user named it.
    """

    rows: int
    valid: int
    invalid: dict[str, int]
    duplicates: int
    recently_sent: int
    billable: int
    category: str | None = None
    estimated_cost: float | None = None
    currency: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        """JSON-friendly counts (no personal data)."""
        return dataclasses.asdict(self)

    @property
    def text(self) -> str:
        """One paragraph for a log or an approval body."""
        invalid = ", ".join(f"{k}: {v}" for k, v in sorted(self.invalid.items())) or "none"
        cost = (
            f"estimated cost {self.estimated_cost:.2f}{' ' + self.currency if self.currency else ''}"
            if self.estimated_cost is not None
            else "no price given for this category"
        )
        return (
            f"Blip preflight: {self.rows} rows, {self.valid} valid, invalid {invalid}, "
            f"{self.duplicates} duplicates, {self.recently_sent} recently sent; "
            f"{self.billable} billable {self.category or 'template'} messages, {cost}"
        )


def count_lines(
    lines: Iterable[Mapping[str, Any]], recently_sent: Callable[[str], bool] | None
) -> Counter[str]:
    """Count chunk lines by status (``valid`` when it has none), and ``recently_sent`` among the valid."""
    counts: Counter[str] = Counter()
    for line in lines:
        status = line.get("status") or "valid"
        counts[status] += 1
        if status == "valid" and recently_sent is not None and recently_sent(str(line.get("phone", ""))):
            counts["recently_sent"] += 1
    return counts


def summarize(
    counts: Counter[str],
    *,
    category: str | None,
    prices: Mapping[str, Any] | None,
    currency: str | None = None,
) -> Preflight:
    """Turn line counts into a :class:`Preflight`, with the cost when ``prices`` has the category.

    :param prices: category (any case) to price per message, e.g. ``{"MARKETING": 0.0625}``.
    :raises BlipConfigError: a price that is not a number >= 0.
    """
    rows = sum(n for k, n in counts.items() if k != "recently_sent")
    valid, recent = counts.get("valid", 0), counts.get("recently_sent", 0)
    billable = valid - recent
    table = _prices(prices)
    price = table.get(category.upper()) if category else None
    return Preflight(
        rows=rows,
        valid=valid,
        invalid={k: counts[k] for k in _INVALID if counts.get(k)},
        duplicates=counts.get(RecipientStatus.DUPLICATE.value, 0),
        recently_sent=recent,
        billable=billable,
        category=category,
        estimated_cost=round(billable * price, 6) if price is not None else None,
        currency=currency,
    )


def _prices(prices: Mapping[str, Any] | None) -> dict[str, float]:
    table: dict[str, float] = {}
    for category, price in (prices or {}).items():
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            raise BlipConfigError(f"prices[{category!r}] must be a number >= 0, got {price!r}")
        table[str(category).upper()] = float(price)
    return table
