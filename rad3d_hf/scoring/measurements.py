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
- A text holding several measurements that differ is ambiguous and yields ``None``; so does a number without a unit,
  and a chain of more than nine numbers joined by ``x`` (a unit after the last one or after each: "3 cm x 3 cm x ...").
  A bare number joined to a measurement by "and", "or" or "/" ("between 3 and 4 cm") also yields ``None``, rather than
  reading only the number that carries the unit. Nothing is guessed.

Scoring reads a text as a measurement only up to :data:`MAX_MEASUREMENT_TEXT` characters (:func:`read_measurement`
says why a longer one was not read); :func:`parse_measurement` itself reads any length, in linear time.

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
# A measurement's number, written so that its first character is a plain character class: the regex engine then skips
# the text between digits at C speed. The lookbehinds say what "(?<![\w.])" says before the number's first character;
# "(?!\d)" ends every number, which changes no match (nothing that may follow a number starts with a digit) but stops
# the engine from retrying every shorter prefix of a long digit run.
_NUMBER_START = r"(?:\d(?<![\w.]\d)\d*(?:[.,]\d+)?|\.(?<![\w.]\.)\d+)(?!\d)"
_NUMBER_WHOLE = rf"(?:{_NUMBER})(?!\d)"
# Dimensions are matched atomically (a lookahead, which is never backtracked into, then a backreference to what it
# matched): no unit starts with a dimension separator, so a shorter chain can never succeed where the longest failed.
# At most _MAX_DIMENSIONS numbers are read as one measurement, which bounds the work from each number; a longer chain
# is never a measurement (see parse_measurement).
_MAX_DIMENSIONS = 9
_MEASUREMENT = re.compile(
    rf"(?i)(?P<first>{_NUMBER_START})"
    rf"(?:\s*(?P<range>-|–|to)\s*(?P<upper>{_NUMBER_WHOLE})"
    rf"|(?=(?P<dims>(?:\s*{_DIM_SEPARATOR}\s*(?:{_NUMBER_WHOLE})){{1,{_MAX_DIMENSIONS - 1}}}))(?P=dims))?"
    rf"(?:\s*|-)(?P<unit>{_UNIT})(?![a-zA-Z])"
)
_DIM_NUMBER = re.compile(_NUMBER)
# between two measurements, a dimension separator makes them one ("3 cm x 2 cm")
_DIM_GAP = re.compile(rf"(?i)\s*{_DIM_SEPARATOR}\s*")
# What stands before a measurement is matched on the reversed text, anchored at the measurement's start, so each look
# back reads only the gap since the previous measurement and the whole parse stays linear in the text's length. The
# whitespace before the measurement is skipped first (nothing looked for starts with whitespace, so the longest run is
# the only one that can succeed):
_WHITESPACE = re.compile(r"\s*")
# - a qualifier ("less than 5 mm", "~5 mm"), which "(?<![\w=<>-])" must not follow;
_REVERSED_QUALIFIER = re.compile(
    r"(?i)(?P<qual>"
    + "|".join(sorted((re.escape(q[::-1]).replace(r"\ ", r"\s+") for q in _QUALIFIERS), key=len, reverse=True))
    + r")(?![\w=<>-])"
)
# - a bare number joined to the measurement by "and", "or" or "/" ("between 3 and 4 cm"), which makes it ambiguous;
_REVERSED_BARE_NUMBER = re.compile(r"(?i)(?:dna|ro|/)\s*(?:(?:\d+[.,])?\d+|\d+\.)(?![\w.])")
# - a number and a dimension separator, before a measurement of _MAX_DIMENSIONS numbers: a longer chain.
# The last characters of everything looked for before a measurement (qualifiers, "and", "or", "/", "x", "by", digits):
# after any other character and one space there is nothing to look for.
_MAY_END_WHAT_PRECEDES = frozenset(
    {q[-1].lower() for q in _QUALIFIERS} | {q[-1].upper() for q in _QUALIFIERS} | set("dDrR/xX×*yY.0123456789")
)
_REVERSED_MORE_DIMENSIONS = re.compile(r"(?i)(?:[x×*]|yb\b)\s*(?:(?:\d+[.,])?\d+|\d+\.)(?![\w.])")
_REL_TOL = 1e-9
# The longest text scoring reads as a measurement (:func:`read_measurement`). The published Task 3 answers are at most
# 19 characters, and a model's answer at max_new_tokens 256-1024 is a few KB; 64 Ki characters leaves room for any
# stated answer with its reasoning. Parsing is linear, but text packed with numbers costs about 1 µs a character, so a
# runaway answer of megabytes would cost seconds a question: a longer text is not read, and the report counts it.
MAX_MEASUREMENT_TEXT = 65_536


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


def _from_match(match: re.Match[str], qualifier_text: str | None) -> Measurement | None:
    qualifier = _QUALIFIERS[re.sub(r"\s+", " ", qualifier_text.lower())] if qualifier_text else ""
    return _measurement(match["first"], match["upper"], match["dims"], match["unit"].lower(), qualifier)


@lru_cache(maxsize=4096)  # answers repeat the same measurement: build each one once
def _measurement(first: str, upper: str | None, dims: str | None, unit: str, qualifier: str) -> Measurement | None:
    kind = "percent" if unit == "%" else "length"
    scale = 1.0 if kind == "percent" else _UNITS_MM[unit]
    if upper is not None:
        low, high = _number(first) * scale, _number(upper) * scale
        if low > high:
            return None
        return Measurement((low, high), kind, qualifier, True)
    numbers = [first]
    if dims:
        numbers += _DIM_NUMBER.findall(dims)
    values = tuple(sorted((_number(n) * scale for n in numbers), reverse=True))
    return Measurement(values, kind, qualifier, False)


@lru_cache(maxsize=1 << 16)
def parse_measurement(text: str) -> Measurement | None:
    """The one measurement stated in ``text``, or ``None`` if there is none or several that differ.

    Linear in the length of ``text``: the regex engine skips to the next digit at C speed, and what precedes a
    measurement (a qualifier, a bare number) is looked up in the gap since the previous one only."""
    found: set[Measurement] = set()
    reversed_text = text[::-1]
    n = len(text)
    previous_end = 0
    # the measurement being built: a chain "3 cm x 2 cm" adds dimensions to it
    current: Measurement | None = None
    current_values: list[float] = []
    started = False
    last_found: Measurement | None = None
    for match in _MEASUREMENT.finditer(text):
        start, gap_end = match.start(), n - previous_end
        if (
            start >= 2
            and text[start - 1] == " "
            and text[start - 2] not in _MAY_END_WHAT_PRECEDES
            and not text[start - 2].isspace()
        ):
            before = gap_end  # the usual case ("measures 12 mm"): nothing looked for ends there, skip the look back
        else:
            before = _skip_space(reversed_text, n - start)
        qualifier = _REVERSED_QUALIFIER.match(reversed_text, before) if before < gap_end else None
        if qualifier is not None and qualifier.end() > gap_end:
            qualifier = None
        if qualifier is None and before < gap_end:
            bare = _REVERSED_BARE_NUMBER.match(reversed_text, before)
            if bare is not None and bare.end() <= gap_end:
                return None
            if match["dims"] and len(_DIM_NUMBER.findall(match["dims"])) == _MAX_DIMENSIONS - 1:
                longer = _REVERSED_MORE_DIMENSIONS.match(reversed_text, before)
                if longer is not None and longer.end() <= gap_end:
                    return None  # more than _MAX_DIMENSIONS numbers joined by "x": not a measurement
        measurement = _from_match(match, qualifier["qual"][::-1] if qualifier is not None else None)
        joined = (
            started
            and current is not None
            and measurement is not None
            and qualifier is None
            and current.kind == measurement.kind == "length"
            and not current.is_range
            and not measurement.is_range
            and _DIM_GAP.fullmatch(text, previous_end, start) is not None
        )
        if joined and measurement is not None:
            current_values.extend(measurement.values)
            if len(current_values) > _MAX_DIMENSIONS:
                return None  # a unit after each number ("3 cm x 3 cm x ..."): the same bound, checked as it grows
        else:
            if current is not None and (current is not last_found or len(current_values) > len(current.values)):
                last_found = _finish(current, current_values, found)
                if len(found) > 1:
                    return None
            current, current_values, started = measurement, list(measurement.values) if measurement else [], True
        previous_end = match.end()
    if started:
        _finish(current, current_values, found)
    return found.pop() if len(found) == 1 else None


def read_measurement(text: str) -> tuple[Measurement | None, str | None]:
    """The measurement :func:`parse_measurement` reads in ``text`` and ``None``, or ``(None, why)`` for a text longer
    than :data:`MAX_MEASUREMENT_TEXT`, which is not read."""
    if len(text) > MAX_MEASUREMENT_TEXT:
        return None, f"longer than {MAX_MEASUREMENT_TEXT} characters"
    return parse_measurement(text), None


def _skip_space(text: str, position: int) -> int:
    """The position after the whitespace that starts at ``position``."""
    space = _WHITESPACE.match(text, position)
    return position if space is None else space.end()


def _finish(measurement: Measurement | None, values: list[float], found: set[Measurement]) -> Measurement | None:
    """Add a finished measurement (with the dimensions a chain added to it) to ``found``; return what was added."""
    if measurement is None:
        return None
    if len(values) > len(measurement.values):
        measurement = Measurement(tuple(sorted(values, reverse=True)), "length", measurement.qualifier)
    found.add(measurement)
    return measurement


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
