"""The failure policy the job layer shares: fatal errors, ratio settings, upstream result rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_blip.exceptions import BlipCommandError, BlipConfigError, BlipError
from airflow_provider_blip.utils.journal import read_results
from airflow_provider_blip.utils.refs import is_chunk_outcome
from airflow_provider_blip.utils.results import (
    FAILED_STATUSES,
    RecipientStatus,
    check_failure_ratio,
    masked_table,
    summarize,
)
from airflow_provider_blip.utils.runfiles import storage_path

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Errors that are about the whole job, not one recipient (a refused key, a wrong base URL, a
#: bad setting): they fail the task at once, without Airflow retries.
FATAL_ERRORS: tuple[type[BaseException], ...] = (AirflowFailException,)

DEFAULT_MAX_FAILED_RATIO = 0.2

# Statuses of a recipient who can still be messaged, moved in the flow or listed.
_REACHABLE = {
    RecipientStatus.VERIFIED,
    RecipientStatus.SENT,
    RecipientStatus.CONTEXT_SET,
    RecipientStatus.ADDED,
    RecipientStatus.ACCEPTED,
    RecipientStatus.DISPATCHED,
    RecipientStatus.RECEIVED,
    RecipientStatus.CONSUMED,
    RecipientStatus.SEND_UNKNOWN,
}


def is_reachable(record: Mapping[str, Any]) -> bool:
    """Tell whether a result row has a WhatsApp account and no failure so far."""
    return bool(record.get("account")) and record.get("status") in _REACHABLE


def failure_fields(exc: BlipError) -> dict[str, Any]:
    """Return the ``reason`` and ``code`` of a per-recipient failure, for its result row."""
    code = exc.code if isinstance(exc, BlipCommandError) else None
    return {"reason": str(exc), "code": code}


def as_records(recipients: Iterable[Any] | None) -> list[dict[str, Any]]:
    """Accept upstream result rows, bare WhatsApp identities, or chunk outputs, as result rows.

    A chunk output (``{"results": uri, ...}`` from ``BlipNotifyOperator``) stands for the
    rows of its results file, read here.
    """
    if is_chunk_outcome(recipients):
        recipients = [recipients]  # one mapped chunk's output
    records: list[dict[str, Any]] = []
    for position, item in enumerate(recipients or [], start=1):
        if is_chunk_outcome(item):
            records.extend(read_results(storage_path(item["results"])))
        elif isinstance(item, str):
            records.append(
                {"row": position, "phone": "", "account": item, "status": RecipientStatus.VERIFIED.value}
            )
        elif isinstance(item, dict):
            records.append(dict(item))
        else:
            raise BlipConfigError(
                f"recipients[{position - 1}] is a {type(item).__name__}; expected a result row "
                "(dict) from an upstream Blip task or a WhatsApp identity (str)"
            )
    return records


def check_ratio(value: Any, name: str = "max_failed_ratio") -> Any:
    """Refuse a ratio outside [0, 1] when the task is defined, not when it runs.

    A Jinja template (``"{{ params.x }}"``) passes: :func:`as_ratio` checks it once rendered.
    """
    if isinstance(value, str) and "{{" in value:
        return value
    return as_ratio(value, name)


def as_ratio(value: Any, name: str = "max_failed_ratio") -> float:
    """Return a (rendered) ratio as a float from 0 to 1, or raise naming the setting."""
    try:
        ratio = float(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    except ValueError:
        ratio = None
    if ratio is None or not 0 <= ratio <= 1:  # NaN fails the range test too
        raise BlipConfigError(f"{name} must be a number between 0 and 1, got {value!r}")
    return ratio


def apply_failure_policy(
    log: Any,  # the task's logger (Airflow's structlog-backed one, not a logging.Logger)
    step: str,
    results: list[dict[str, Any]],
    acted: list[dict[str, Any]],
    max_failed_ratio: float,
) -> list[dict[str, Any]]:
    """Log a step's outcome (numbers masked) and raise when too many of ``acted`` failed.

    The ratio is over the rows the step worked on, so rows that failed an earlier step
    are not counted twice.
    """
    log.info("Blip %s: %s", step, summarize(results))
    failed = [r for r in acted if r.get("status") in FAILED_STATUSES]
    if failed:
        log.warning("Blip %s failures:\n%s", step, masked_table(failed, limit=50))
    check_failure_ratio(summarize(acted), max_failed_ratio=max_failed_ratio, step=step)
    return results
