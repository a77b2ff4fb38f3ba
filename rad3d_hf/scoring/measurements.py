"""Task 3 answers as measurements: value(s) and unit parsed from text and normalised to millimetres.

Grammar (case-insensitive, anywhere in the text): an optional qualifier, one to three numbers joined by ``x``/``×``/``*``
or ``by`` (dimensions) or a single ``-``/``to`` (a range), then a unit: ``mm``, ``cm``, ``m``, the spelled-out
``millimet(er|re)s``, ``centimet(er|re)s``, or ``%``, possibly hyphenated ("a 5-mm nodule");
dimensions may also carry a unit each ("3 cm x 2 cm"). Examples:
"22 mm", "2.5 cm", "3 x 2 cm", "3 cm x 2 cm", "3.0 by 2.0 cm", "30x13 mm", "2-3 mm", "Less than 1 cm.",
"Approximately 9 cm.", "13 millimeters", "50% loss".

- Qualifiers: "less than", "smaller than", "under", "below" -> ``<``; "up to", "at most" -> ``<=``; "more than",
  "greater than", "larger than", "exceeding", "over", "above" -> ``>``; "at least" -> ``>=``; "approximately", "about",
  "around", "roughly", "~" -> none (the value is still stated); the symbols ``<``, ``<=``/``≤``, ``>``, ``>=``/``≥``
  stand for themselves.
- A text holding several measurements that differ is ambiguous and yields ``None``; so does a number without a unit.
  A bare number joined to a measurement by "and", "or" or "/" ("between 3 and 4 cm") also yields ``None``, rather than
  reading only the number that carries the unit. Nothing is guessed.

Comparison (:func:`compare_measurements`): dimensions are compared largest first, so "30x13 mm" equals "13x30 mm".
Two measurements match exactly when their kind (length or percent), qualifier, range flag and sorted values agree after
normalisation ("2 cm" equals "20 mm"; relative tolerance 1e-9). The absolute error is the mean absolute difference of
sorted dimensions when both have the same number of them, else the difference of the largest dimensions; the relative
error divides by the reference's corresponding value(s). Ranges are compared by their end points.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

_UNITS_MM: dict[str, float] = {
    "mm": 1.0,
    "millimeter": 1.0,
    "millimeters": 1.0,
    "millimetre": 1.0,
    "millimetres": 1.0,
    "cm": 10.0,
    "centimeter": 10.0,
    "centimeters": 10.0,
    "centimetre": 10.0,
    "centimetres": 10.0,
    "m": 1000.0,
    "meter": 1000.0,
    "meters": 1000.0,
    "metre": 1000.0,
    "metres": 1000.0,
}
_QUALIFIERS: dict[str, str] = {
    "less than": "<",
    "smaller than": "<",
    "under": "<",
    "below": "<",
    "up to": "<=",
    "at most": "<=",
    "more than": ">",
    "greater than": ">",
    "larger than": ">",
    "exceeding": ">",
    "over": ">",
    "above": ">",
    "at least": ">=",
    "approximately": "",
    "about": "",
    "around": "",
    "roughly": "",
    "~": "",
    "<": "<",
    "<=": "<=",
    "≤": "<=",
    ">": ">",
    ">=": ">=",
    "≥": ">=",
}

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
    for match in _MEASUREMENT.finditer(text):
        if not match["qual"] and _BARE_NUMBER_BEFORE.search(text, 0, match.start()):
            return None
        measurement = _from_match(match)
        previous = _continued(text, parts[-1], match, measurement) if parts and measurement is not None else None
        if previous is not None and measurement is not None:
            values = tuple(sorted(previous.values + measurement.values, reverse=True))
            parts[-1] = (match, Measurement(values, "length", previous.qualifier))
        else:
            parts.append((match, measurement))
    found = {m for _, m in parts if m is not None}
    if len(found) != 1:
        return None
    return found.pop()


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=1e-12)


def measurements_equal(prediction: Measurement, reference: Measurement) -> bool:
    """Exact match after normalisation to millimetres (see the module docstring)."""
    return (
        prediction.kind == reference.kind
        and prediction.qualifier == reference.qualifier
        and prediction.is_range == reference.is_range
        and len(prediction.values) == len(reference.values)
        and all(_close(p, r) for p, r in zip(prediction.values, reference.values))
    )


@dataclass(frozen=True)
class MeasurementComparison:
    """How one predicted measurement compares with the reference."""

    exact: bool
    absolute_error: float | None  # in mm (or percentage points); None when the kinds differ
    relative_error: float | None  # None when the kinds differ or the reference value is 0


def compare_measurements(prediction: Measurement, reference: Measurement) -> MeasurementComparison:
    """Exact match, absolute error and relative error of ``prediction`` against ``reference``."""
    exact = measurements_equal(prediction, reference)
    if prediction.kind != reference.kind:
        return MeasurementComparison(exact, None, None)
    if len(prediction.values) == len(reference.values):
        pairs = list(zip(prediction.values, reference.values))
    else:
        pairs = [(prediction.values[0], reference.values[0])]
    absolute = sum(abs(p - r) for p, r in pairs) / len(pairs)
    if any(r == 0 for _, r in pairs):
        return MeasurementComparison(exact, absolute, None)
    relative = sum(abs(p - r) / r for p, r in pairs) / len(pairs)
    return MeasurementComparison(exact, absolute, relative)
