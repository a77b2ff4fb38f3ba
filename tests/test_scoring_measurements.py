"""Task 3 measurements: parsing, unit normalisation, comparison."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rad3d_hf.scoring.measurements import Measurement, compare_measurements, measurements_equal, parse_measurement
from tests.conftest import real_tables_or_skip

VALUES = st.decimals(min_value="0.1", max_value="500", places=1).map(lambda d: float(d))


@pytest.mark.parametrize(
    ("text", "values", "qualifier", "is_range"),
    [
        ("22 mm", (22.0,), "", False),
        ("2.5 cm", (25.0,), "", False),
        ("3 x 2 cm", (30.0, 20.0), "", False),
        ("30x13 mm", (30.0, 13.0), "", False),
        ("13x30 mm", (30.0, 13.0), "", False),
        ("19 x 21 millimeters", (21.0, 19.0), "", False),
        ("2-3 mm", (2.0, 3.0), "", True),
        ("Less than 1 cm.", (10.0,), "<", False),
        ("Up to 3 mm", (3.0,), "<=", False),
        ("Exceeding 1 cm", (10.0,), ">", False),
        ("Approximately 9 cm.", (90.0,), "", False),
        ("The largest node measures about 1.5 cm in short axis.", (15.0,), "", False),
    ],
)
def test_parses(text, values, qualifier, is_range):
    parsed = parse_measurement(text)
    assert parsed is not None
    assert parsed.values == pytest.approx(values)
    assert (parsed.qualifier, parsed.is_range, parsed.kind) == (qualifier, is_range, "length")


@pytest.mark.parametrize("text", ["22", "", "no measurement", "3 cm and 4 cm", "about 2 inches"])
def test_no_measurement_or_several_is_none(text):
    assert parse_measurement(text) is None


def test_percent_is_its_own_kind():
    parsed = parse_measurement("50% loss")
    assert parsed == Measurement((50.0,), "percent")
    comparison = compare_measurements(parsed, parse_measurement("50 mm"))
    assert not comparison.exact and comparison.absolute_error is None


def test_2_cm_equals_20_mm():
    comparison = compare_measurements(parse_measurement("2 cm"), parse_measurement("20 mm"))
    assert comparison.exact and comparison.absolute_error == 0 and comparison.relative_error == 0


def test_errors():
    comparison = compare_measurements(parse_measurement("25 mm"), parse_measurement("2 cm"))
    assert not comparison.exact
    assert comparison.absolute_error == pytest.approx(5.0)
    assert comparison.relative_error == pytest.approx(0.25)
    # different numbers of dimensions compare their largest ones
    comparison = compare_measurements(parse_measurement("3 cm"), parse_measurement("30x13 mm"))
    assert not comparison.exact and comparison.absolute_error == pytest.approx(0.0)
    # a qualifier is part of an exact match
    assert not measurements_equal(parse_measurement("5 mm"), parse_measurement("Less than 5 mm."))


@pytest.mark.real_data
def test_every_published_task3_answer_parses():
    root = real_tables_or_skip()
    answers = set()
    for path in root.glob("*/Task3_Medical_Computation/*.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            answers.update(row["Answer"] for row in csv.DictReader(handle))
    assert len(answers) > 600
    unparsed = sorted(a for a in answers if parse_measurement(a) is None)
    assert unparsed == []


@settings(max_examples=120, deadline=None)
@given(VALUES, st.sampled_from(["cm", "centimeters", " cm"]), st.sampled_from(["", "about ", "Approximately "]))
def test_centimetres_equal_ten_times_millimetres(value, unit, prefix):
    in_cm = parse_measurement(f"{prefix}{value:g}{unit}")
    in_mm = parse_measurement(f"{value * 10:g} mm")
    assert in_cm is not None and in_mm is not None
    assert measurements_equal(in_cm, in_mm)


@settings(max_examples=120, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=3), st.sampled_from(["x", " x ", "×", "*"]), st.sampled_from(["mm", "cm"]))
def test_dimension_order_does_not_matter_and_str_round_trips(values, joiner, unit):
    forward = parse_measurement(joiner.join(f"{v:g}" for v in values) + f" {unit}")
    backward = parse_measurement(joiner.join(f"{v:g}" for v in reversed(values)) + f" {unit}")
    assert forward is not None and measurements_equal(forward, backward)
    assert parse_measurement(str(forward)) == forward
    assert list(forward.values) == sorted(forward.values, reverse=True)


@settings(max_examples=120, deadline=None)
@given(VALUES, VALUES)
def test_errors_are_symmetric_in_absolute_value(a, b):
    first = compare_measurements(parse_measurement(f"{a:g} mm"), parse_measurement(f"{b:g} mm"))
    second = compare_measurements(parse_measurement(f"{b:g} mm"), parse_measurement(f"{a:g} mm"))
    assert first.absolute_error == pytest.approx(second.absolute_error)
    assert first.exact == second.exact == (f"{a:g}" == f"{b:g}")


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("3 cm x 2 cm", (30.0, 20.0)),  # a unit after every dimension, as reports write it
        ("30 mm x 13 mm", (30.0, 13.0)),
        ("3cm x 2cm x 1cm", (30.0, 20.0, 10.0)),
        ("3 cm x 20 mm", (30.0, 20.0)),
        ("3.0 by 2.0 cm", (30.0, 20.0)),  # "by" joins dimensions
        ("It measures 12 by 8 mm.", (12.0, 8.0)),
    ],
)
def test_dimensions_written_with_units_or_by(text, values):
    parsed = parse_measurement(text)
    assert parsed is not None and parsed.values == pytest.approx(values) and not parsed.is_range


@pytest.mark.parametrize("text", ["between 3 and 4 cm", "3 or 4 cm", "3/4 cm"])
def test_a_bare_number_joined_to_a_measurement_is_not_dropped(text):
    # reading only "4 cm" would invent a value the answer does not state
    assert parse_measurement(text) is None


@pytest.mark.parametrize(
    ("text", "reference", "qualifier"),
    [
        ("<5 mm", "Less than 5 mm.", "<"),
        ("< 1 cm", "Less than 1 cm", "<"),
        ("≤ 3 mm", "Up to 3 mm", "<="),
        (">2 cm", "Exceeding 2 cm", ">"),
        (">= 2 cm", "at least 20 mm", ">="),
    ],
)
def test_comparison_symbols_are_qualifiers(text, reference, qualifier):
    # "<5 mm" read as "5 mm" would count as an exact answer to "5 mm" and a wrong one to "Less than 5 mm."
    parsed = parse_measurement(text)
    assert parsed is not None and parsed.qualifier == qualifier
    assert measurements_equal(parsed, parse_measurement(reference))
    assert not measurements_equal(parsed, parse_measurement(text.lstrip("<>=≤≥ ")))


@pytest.mark.parametrize("text", ["It is moreover 5 mm", "-> 5 mm", "Result => 5 mm"])
def test_qualifiers_stand_alone(text):
    # "over" inside "Moreover" and the arrows "->"/"=>" are not "more than"
    assert parse_measurement(text) == Measurement((5.0,), "length")


@pytest.mark.parametrize(
    ("text", "values"), [("A 5-mm nodule", (5.0,)), ("a 1.5-cm lymph node", (15.0,)), ("3 x 2-cm", (30.0, 20.0))]
)
def test_hyphenated_units(text, values):
    # "a 5-mm nodule" is how reports write a measurement used as an adjective
    parsed = parse_measurement(text)
    assert parsed is not None and parsed.values == pytest.approx(values)


@pytest.mark.parametrize(
    ("dimension", "separator"), [("3 cm", " x "), ("3cm", " x "), ("30 mm", " by "), ("3 cm", "×")]
)
def test_a_chain_with_a_unit_after_each_number_follows_the_nine_dimension_bound(dimension, separator):
    # "3 cm x 3 cm x ..." is joined dimension by dimension; more than nine numbers are not a measurement, as without units
    assert parse_measurement(separator.join([dimension] * 9)) == Measurement((30.0,) * 9, "length")
    assert parse_measurement(separator.join([dimension] * 10)) is None
    assert parse_measurement(separator.join([dimension] * 100_000)) is None


def test_the_bound_counts_every_number_of_a_chain_mixing_both_forms():
    nine = parse_measurement(" x ".join(["1 x 2 cm"] * 4) + " x 5 cm")
    assert nine == Measurement((50.0, 20.0, 20.0, 20.0, 20.0, 10.0, 10.0, 10.0, 10.0), "length")
    assert parse_measurement(" x ".join(["1 x 2 cm"] * 5)) is None


def test_a_chain_over_nine_dimensions_ends_the_parse(monkeypatch):
    # nothing after the tenth dimension can change the result, so the parser stops reading there
    from rad3d_hf.scoring import measurements

    pattern, read = measurements._MEASUREMENT, []

    class Counting:
        def finditer(self, text):
            for match in pattern.finditer(text):
                read.append(match)
                yield match

    monkeypatch.setattr(measurements, "_MEASUREMENT", Counting())
    assert measurements.parse_measurement("3 cm x " * 10_000 + "3 cm") is None
    assert len(read) == 10
