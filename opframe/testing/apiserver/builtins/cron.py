"""The cron schedule syntax CronJobs accept (robfig/cron's standard parser, as
``pkg/apis/batch/validation/validation.go`` calls it): five fields or a ``@`` descriptor.

:func:`schedule_errors` returns the parser's error text, which kube-apiserver puts in the
``Invalid value`` message of ``spec.schedule``.
"""

from __future__ import annotations

import re

__all__ = ["schedule_errors"]

_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (minimum, maximum, names) of minute, hour, day of month, month, day of week.
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def _number(text: str, names: dict[str, int]) -> int | str:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        return f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
    return int(text)


def _range_error(expr: str, low: int, high: int, names: dict[str, int]) -> str:
    range_part, _, step_part = expr.partition("/")
    if range_part in ("*", "?"):
        start, end = low, high
    else:
        lo_text, dash, hi_text = range_part.partition("-")
        lo = _number(lo_text, names)
        if isinstance(lo, str):
            return lo
        start = end = lo
        if dash:
            hi = _number(hi_text, names)
            if isinstance(hi, str):
                return hi
            end = hi
    if step_part or "/" in expr:
        step = _number(step_part, {})
        if isinstance(step, str):
            return step
        if step == 0:
            return f"step of range should be a positive number: {expr}"
    if start < low:
        return f"beginning of range ({start}) below minimum ({low}): {expr}"
    if end > high:
        return f"end of range ({end}) above maximum ({high}): {expr}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {expr}"
    return ""


def schedule_errors(schedule: str) -> str:
    """The parse error of ``schedule``, or ``""`` when it is a valid standard schedule."""
    text = schedule.strip()
    if not text:
        return "empty spec string"
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        _, _, text = text.partition(" ")
    if text.startswith("@"):
        if text in _DESCRIPTORS:
            return ""
        if text.startswith("@every "):
            if _DURATION.match(text[len("@every ") :].strip()):
                return ""
            return f"failed to parse duration {text}: time: invalid duration "
        return f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for value, (low, high, names) in zip(fields, _FIELDS, strict=True):
        for expr in value.split(","):
            error = _range_error(expr, low, high, names)
            if error:
                return error
    return ""
