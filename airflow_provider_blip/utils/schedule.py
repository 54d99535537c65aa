"""When a run was meant to start, and whether it starts too late to send (no I/O).

A paused daily DAG that is unpaused at 15:00 runs its 09:00 job at once; for a notification
job that is usually wrong ("your order left" six hours late, or a reminder after the event).
``max_delay`` turns such a run into one that sends nothing and says why.

The scheduled time is the run's ``data_interval_end`` (when an interval timetable makes the
run due; for ``CronTriggerTimetable``, the default for cron strings in Airflow 3, it is the
logical date itself), else its ``logical_date``. A manual run's logical date is when it was
triggered; so only **scheduled** runs are guarded: a manual run, a backfill or
``airflow dags test DAG <date>`` for an older date is a person's choice to run that job now.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class StaleRun:
    """A run that started after its scheduled time plus ``max_delay``: nothing is sent.

    :param scheduled: when the run was meant to start.
    :param started: when it started.
    :param max_delay: the delay allowed.
    """

    scheduled: datetime
    started: datetime
    max_delay: timedelta

    @property
    def reason(self) -> str:
        late = self.started - self.scheduled
        return (
            f"stale run: scheduled for {self.scheduled.isoformat()}, started {self.started.isoformat()} "
            f"({_hours(late)} late, more than max_delay={_hours(self.max_delay)}); nothing was sent"
        )

    def to_xcom(self) -> dict[str, Any]:
        """JSON-friendly form, no personal data."""
        return {
            "reason": self.reason,
            "scheduled": self.scheduled.isoformat(),
            "started": self.started.isoformat(),
            "max_delay_seconds": self.max_delay.total_seconds(),
        }


def _hours(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def scheduled_time(context: Mapping[str, Any]) -> datetime | None:
    """Return the run's scheduled time: ``data_interval_end``, else ``logical_date``, else ``None``."""
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if isinstance(value, datetime):
            return value
    return None


def is_scheduled(context: Mapping[str, Any]) -> bool:
    """Tell whether the run was made by the scheduler (``run_type`` ``scheduled``)."""
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return getattr(run_type, "value", run_type) == "scheduled"


def check_stale(context: Mapping[str, Any], max_delay: timedelta | None, now: datetime) -> StaleRun | None:
    """Return a :class:`StaleRun` when ``now`` is past the scheduled time plus ``max_delay``.

    :param context: the task context (its run type and dates are read); only scheduled runs
        are guarded.
    :param max_delay: ``None`` turns the guard off.
    :param now: the current time, timezone-aware.
    """
    if max_delay is None or not is_scheduled(context):
        return None
    scheduled = scheduled_time(context)
    if scheduled is None or now <= scheduled + max_delay:
        return None
    return StaleRun(scheduled, now, max_delay)


def as_delay(value: timedelta | float | str | None, name: str) -> timedelta | None:
    """Read a duration argument: a timedelta or seconds; ``None``, ``""`` or 0 is off."""
    if value is None or isinstance(value, timedelta):
        return value or None
    if isinstance(value, str) and value.strip().lower() in ("", "none"):
        return None
    try:
        seconds = float(value) if not isinstance(value, bool) else -1.0
    except ValueError:
        seconds = -1.0
    if seconds == 0:
        return None
    if seconds > 0:
        return timedelta(seconds=seconds)
    raise BlipConfigError(f"{name} must be a timedelta or seconds >= 0, got {value!r}")
