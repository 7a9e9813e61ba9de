"""Resource quantities (``500m``, ``128Mi``, ``1e3``): parsing and the server's canonical form.

The server re-serialises every quantity it stores in canonical form (``0.5`` becomes ``500m``,
``1024Mi`` becomes ``1Gi``), keeping the input's format family: binary (``Ki``...), decimal
(``k``, ``M``... and plain numbers) or decimal exponent (``1e3``).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from opframe.testing.apiserver.errors import bad_request

__all__ = [
    "QUANTITY_ERROR",
    "QuantityError",
    "canonical_quantity",
    "canonicalize_resource_list",
    "parse_quantity",
]

QUANTITY_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)

_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}


class QuantityError(ValueError):
    """A string that is not a quantity."""


def parse_quantity(text: str) -> tuple[Fraction, str]:
    """``(value, format)`` of a quantity; format is ``BinarySI``, ``DecimalSI`` or
    ``DecimalExponent``. Raises :class:`QuantityError` with the server's message."""
    m = _RE.match(text.strip()) if isinstance(text, str) else None
    if not m or m.group(1) in {"", ".", "+", "-"} or m.group(1).count(".") > 1:
        raise QuantityError(QUANTITY_ERROR)
    number, suffix = m.group(1), m.group(2)
    try:
        value = Fraction(number)
    except ValueError as exc:
        raise QuantityError(QUANTITY_ERROR) from exc
    if suffix in _BINARY:
        return value * (2 ** _BINARY[suffix]), "BinarySI"
    if suffix in _DECIMAL:
        return value * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"
    if suffix[:1] in {"e", "E"}:
        try:
            exp = int(suffix[1:])
        except ValueError as exc:
            raise QuantityError(QUANTITY_ERROR) from exc
        return value * Fraction(10) ** exp, "DecimalExponent"
    raise QuantityError(QUANTITY_ERROR)


def _decimal(value: Fraction, exponent_style: bool) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    # Precision below nano is rounded up, as resource.Quantity does.
    nanos = value * 10**9
    if nanos.denominator != 1:
        value = Fraction(-(-nanos.numerator // nanos.denominator), 10**9)
    for exp in range(18, -12, -3):
        mantissa = value / Fraction(10) ** exp
        if mantissa.denominator == 1:
            if exponent_style:
                return f"{sign}{mantissa.numerator}" + (f"e{exp}" if exp else "")
            return f"{sign}{mantissa.numerator}{_DECIMAL_SUFFIX[exp]}"
    return f"{sign}{value.numerator}"  # pragma: no cover - unreachable after rounding


def canonical_quantity(text: str) -> str:
    """The canonical form the server stores and returns for ``text``."""
    value, fmt = parse_quantity(text)
    if value == 0:
        return "0"
    if fmt == "BinarySI" and value.denominator == 1 and abs(value) >= 1024:
        for name, bits in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
            if value % (2**bits) == 0:
                return f"{value // 2**bits}{name}"
    if fmt == "BinarySI" and value.denominator == 1:
        return str(value.numerator)
    return _decimal(value, fmt == "DecimalExponent")


def canonicalize_resource_list(values: Any, kind: str) -> None:
    """Rewrite a resource list's quantities (``{"cpu": "0.5"}``) in canonical form, in place.

    A malformed quantity is a 400, as when the server decodes a ``kind`` that carries it.
    """
    if not isinstance(values, dict):
        return
    for name, value in values.items():
        try:
            values[name] = canonical_quantity(str(value))
        except QuantityError as exc:
            raise bad_request(
                f'{kind} in version "v1" cannot be handled as a {kind}: {exc}'
            ) from None
