"""Standard 5-field cron schedules, as the CronJob controller reads ``spec.schedule``.

The rules of ``robfig/cron``'s ``ParseStandard`` (which ``pkg/controller/cronjob`` uses):
fields ``minute hour day-of-month month day-of-week``, each ``*``, a value, a range
``a-b``, a step ``*/n`` or ``a-b/n`` or ``a/n`` (from ``a`` to the field's end), or a
comma list of those; month and day names (``jan``, ``mon``) in any case; day-of-week 7 is
Sunday as 0 is; ``?`` is ``*``; the descriptors ``@yearly``/``@annually``, ``@monthly``,
``@weekly``, ``@daily``/``@midnight`` and ``@hourly``. When both day fields are restricted
a day matches if either does (when one is ``*`` only the other counts). Example::

    sched = parse_schedule("*/15 9-17 * * mon-fri")
    sched.next_after(datetime(2026, 1, 5, 9, 7, tzinfo=UTC))  # 09:15 that Monday
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Schedule", "parse_schedule"]

_MONTHS = {m: i + 1 for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split())}  # fmt: skip
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}  # fmt: skip
# (name, low, high, names) of each field.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the allowed values of each field."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    """Day of month is ``*``."""
    any_weekday: bool
    """Day of week is ``*``."""

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next_after(self, t: datetime) -> datetime | None:
        """The first time strictly after ``t`` the schedule fires (``None`` within 5 years)."""
        t = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t.year + 5
        while t.year <= limit:
            if t.month not in self.months:
                year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = t.replace(year=year, month=month, day=1, hour=0, minute=0)
                continue
            if not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return t
        return None


def _value(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"{field}: {text!r} is not a number{' or a name' if names else ''}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{field}: {value} is outside {low}-{high}")
    return value


def _field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if span in ("*", "?"):
            start, end = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            start, end = _value(a, field, low, high, names), _value(b, field, low, high, names)
            if start > end:
                raise ValueError(f"{field}: range {span!r} runs backwards")
        else:
            start = _value(span, field, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


def parse_schedule(text: str) -> Schedule:
    """Parse a 5-field schedule or a descriptor; ``ValueError`` names the bad field."""
    spec = _DESCRIPTORS.get(text.strip().lower(), text)
    parts = spec.split()
    if len(parts) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(parts)}")
    sets = [_field(p, *f) for p, f in zip(parts, _FIELDS, strict=True)]
    weekdays = {d % 7 for d in sets[4]}
    return Schedule(
        minutes=frozenset(sets[0]), hours=frozenset(sets[1]), days=frozenset(sets[2]),
        months=frozenset(sets[3]), weekdays=frozenset(weekdays),
        any_day=parts[2] in ("*", "?"), any_weekday=parts[4] in ("*", "?"),
    )  # fmt: skip
