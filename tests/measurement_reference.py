"""The Task 3 measurement parser as it was before it was made linear (quadratic, kept only as a test oracle).

The property test checks that the linear parser in :mod:`rad3d_hf.scoring.measurements` reads every short text exactly
as this one did. One rule was added to it: a chain of more than nine numbers is not a measurement (the module's
docstring states it; this parser had read such chains as one measurement of that many dimensions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rad3d_hf.scoring.measurements import _MAX_DIMENSIONS, _QUALIFIERS, _UNITS_MM

_NUMBER = r"\d+(?:[.,]\d+)?|\.\d+"
_UNIT = "|".join(sorted((re.escape(u) for u in (*_UNITS_MM, "%")), key=len, reverse=True))
_QUALIFIER = "|".join(sorted((re.escape(q).replace(r"\ ", r"\s+") for q in _QUALIFIERS), key=len, reverse=True))
_DIM_SEPARATOR = r"(?:[x×*]|\bby\b)"
_MEASUREMENT = re.compile(
    rf"(?i)(?:(?<![\w=<>-])(?P<qual>{_QUALIFIER})\s*)?"
    rf"(?<![\w.])(?P<first>{_NUMBER})"
    rf"(?:\s*(?P<range>-|–|to)\s*(?P<upper>{_NUMBER})"
    rf"|(?P<dims>(?:\s*{_DIM_SEPARATOR}\s*(?:{_NUMBER}))+))?"
    rf"(?:\s*|-)(?P<unit>{_UNIT})(?![a-zA-Z])"
)
_DIM_NUMBER = re.compile(_NUMBER)
# between two measurements, a dimension separator makes them one ("3 cm x 2 cm")
_DIM_GAP = re.compile(rf"(?i)\s*{_DIM_SEPARATOR}\s*")
# a bare number joined to the measurement that follows ("between 3 and 4 cm", "3 or 4 cm") is part of what is stated
_BARE_NUMBER_BEFORE = re.compile(rf"(?i)(?<![\w.])(?:{_NUMBER})\s*(?:and|or|/)\s*$")
_REL_TOL = 1e-9


@dataclass(frozen=True)
class Measurement:
    """A parsed measurement: values normalised to millimetres (or percent), largest first for dimensions."""

    values: tuple[float, ...]
    kind: str  # "length" or "percent"
    qualifier: str = ""  # "", "<", "<=", ">", ">="
    is_range: bool = False

    def __str__(self) -> str:
        unit = " mm" if self.kind == "length" else "%"
        join = "-" if self.is_range else "x"
        number = join.join(f"{v:g}" for v in self.values)
        return f"{self.qualifier}{number}{unit}"


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _from_match(match: re.Match[str]) -> Measurement | None:
    unit = match["unit"].lower()
    kind = "percent" if unit == "%" else "length"
    scale = 1.0 if kind == "percent" else _UNITS_MM[unit]
    qualifier = _QUALIFIERS[re.sub(r"\s+", " ", match["qual"].lower())] if match["qual"] else ""
    if match["upper"] is not None:
        low, high = _number(match["first"]) * scale, _number(match["upper"]) * scale
        if low > high:
            return None
        return Measurement((low, high), kind, qualifier, True)
    numbers = [match["first"]]
    if match["dims"]:
        numbers += _DIM_NUMBER.findall(match["dims"])
    values = tuple(sorted((_number(n) * scale for n in numbers), reverse=True))
    return Measurement(values, kind, qualifier, False)


def _continued(
    text: str, previous: tuple[re.Match[str], Measurement | None], match: re.Match[str], measurement: Measurement
) -> Measurement | None:
    """The previous measurement if ``match`` adds dimensions to it ("3 cm x 2 cm", a unit after each), else None."""
    before, earlier = previous
    joined = (
        earlier is not None
        and _DIM_GAP.fullmatch(text, before.end(), match.start()) is not None
        and not match["qual"]
        and earlier.kind == measurement.kind == "length"
        and not earlier.is_range
        and not measurement.is_range
    )
    return earlier if joined else None


@lru_cache(maxsize=1 << 16)
def parse_measurement(text: str) -> Measurement | None:
    """The one measurement stated in ``text``, or ``None`` if there is none or several that differ."""
    parts: list[tuple[re.Match[str], Measurement | None]] = []
    previous_end = 0
    for match in _MEASUREMENT.finditer(text):
        # The bare number has to lie between the previous match (which ends in a unit) and this one: searching only
        # there keeps the whole parse linear in the text's length, instead of rescanning the text for every match.
        if not match["qual"] and _BARE_NUMBER_BEFORE.search(text, previous_end, match.start()):
            return None
        previous_end = match.end()
        measurement = _from_match(match)
        previous = _continued(text, parts[-1], match, measurement) if parts and measurement is not None else None
        if previous is not None and measurement is not None:
            values = tuple(sorted(previous.values + measurement.values, reverse=True))
            parts[-1] = (match, Measurement(values, "length", previous.qualifier))
        else:
            parts.append((match, measurement))
    # The module's rule that a chain of more than nine numbers is not a measurement, which this parser had not applied
    if any(m is not None and len(m.values) > _MAX_DIMENSIONS for _, m in parts):
        return None
    found = {m for _, m in parts if m is not None}
    if len(found) != 1:
        return None
    return found.pop()
