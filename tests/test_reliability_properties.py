"""Property tests over every parser of untrusted input: only the package's named errors, bounded time.

The parsers: the QA table reader, the predictions reader, the Task 3 measurement parser and the NIfTI header parser
(the answer extractor has its own in test_scoring_extraction). Each gets arbitrary (and adversarially shaped) input and
must either succeed or raise its named error; the measurement parser must also read every text as it did before it was
made linear, and its time must grow linearly.
"""

from __future__ import annotations

import gzip
import json
import struct
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rad3d_hf.data.catalogue import CSV_HEADER
from rad3d_hf.data.rows import read_rows
from rad3d_hf.data.tables import QATableError
from rad3d_hf.scoring.measurements import parse_measurement
from rad3d_hf.scoring.predictions import PredictionsError, read_predictions
from rad3d_hf.volumes.errors import VolumeError
from rad3d_hf.volumes.header import read_volume_header
from tests import measurement_reference
from tests.qa_table_files import closed_row, write_table

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- the measurement parser --------------------------------------------------------------------------------------

_TOKENS = st.sampled_from(
    ["3", "2.5", ".5", "12", "0", "1,5", "\u0663", "x", "\u00d7", "*", " by ", "-", "\u2013", " to ", "mm", "cm", "m",
     "%", "millimetres", " ", "\n", "and", "or", "/", "less than", "LESS  THAN", "~", "<", "<=", "\u2265", "about",
     "over", "at least", "a", "nodule", ".", ",", "=", "5-mm"]
)  # fmt: skip


def _key(m: object) -> object:
    return None if m is None else (m.values, m.kind, m.qualifier, m.is_range)  # type: ignore[attr-defined]


@SETTINGS
@given(st.lists(_TOKENS, max_size=14).map("".join) | st.text(max_size=40))
def test_the_linear_measurement_parser_reads_every_text_as_before(text: str) -> None:
    assert _key(parse_measurement(text)) == _key(measurement_reference.parse_measurement(text))


_CHAIN_LINK = st.tuples(st.sampled_from(["3", "2.5", "12"]), st.sampled_from(["", " cm", "mm", " mm"]))


@SETTINGS
@given(
    st.lists(_CHAIN_LINK, min_size=1, max_size=13),
    st.sampled_from([" x ", "x", " by ", "\u00d7", " * "]),
    st.sampled_from(["", " cm", " mm"]),
)
def test_dimension_chains_of_any_length_read_as_before(links: list[tuple[str, str]], separator: str, unit: str) -> None:
    # chains up to 13 numbers, a unit after some or all of them: over nine numbers is never a measurement
    text = separator.join(number + link_unit for number, link_unit in links) + unit
    assert _key(parse_measurement(text)) == _key(measurement_reference.parse_measurement(text))


def _seconds(text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        parse_measurement.cache_clear()
        # this thread's CPU time: other processes, and other threads of this one, do not count against it
        start = time.thread_time()
        parse_measurement(text)
        best = min(best, time.thread_time() - start)
    return best


def test_measurement_parsing_time_grows_linearly() -> None:
    # Each unit is a shape that made the old parser quadratic (a measurement rescanned the whole text before it),
    # or that makes a regex retry work from every position (digit runs, dimension chains without a unit).
    units = ["The nodule measures 12 by 9 mm and ", "3 cm x ", "1 x ", "1", "3 and ", "2-", " "]
    for unit in units:
        # Grow the small text until it takes 10 ms, so that fixed costs and timer noise do not decide the ratio.
        size, small_time = 16_000, 0.0
        while size < 1_000_000:
            small_time = _seconds(unit * (size // len(unit)) + " 5 mm", 5)
            if small_time >= 0.01:
                break
            size *= 2
        ratio = _seconds(unit * (8 * size // len(unit)) + " 5 mm", 3) / small_time
        # up to three tries: test processes running side by side (pytest -n) share caches and memory bandwidth, so
        # one try can come out high; a quadratic parser comes out near 64x every time
        for _ in range(2):
            if ratio < 20:
                break
            small_time = _seconds(unit * (size // len(unit)) + " 5 mm", 5)
            ratio = min(ratio, _seconds(unit * (8 * size // len(unit)) + " 5 mm", 3) / small_time)
        assert ratio < 20, f"{unit!r}: 8x the text ({8 * size} characters) took {ratio:.1f}x the time"


# --- the QA table reader -----------------------------------------------------------------------------------------

_GOOD = closed_row(4, "Lung nodule", "test", "test_7_a_1.nii.gz", "Does the CT show a lung nodule?", "A")
_CELL = st.one_of(
    st.sampled_from([*_GOOD, "", "-", "test_07_a_1.nii.gz", "test_7_a_1", '"', "a,b", "line\nbreak", "\x00", "\ufeff"]),
    st.text(max_size=12),
)


@SETTINGS
@given(
    rows=st.lists(st.lists(_CELL, min_size=0, max_size=13), max_size=4),
    header=st.sampled_from([list(CSV_HEADER), list(CSV_HEADER[:-1]), [*CSV_HEADER, "x"]]),
    raw=st.binary(max_size=60),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "raw"]),
)
def test_the_table_reader_raises_only_named_errors(tmp_path_factory, rows, header, raw, encoding) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("tables")
    path = write_table(root, "test", 4, "Lung nodule", [_GOOD, *rows], header=tuple(header))
    if encoding == "raw":
        path.write_bytes(path.read_bytes() + raw)
    elif encoding != "utf-8":
        path.write_bytes(path.read_text(encoding="utf-8").encode(encoding, errors="replace"))
    try:
        out = list(read_rows(str(root), "test", "task4_lung_nodule"))
    except QATableError as error:
        assert str(path) in str(error)
    else:
        assert out and all(row["volume_name"] == "test_7_a_1" for row in out[:1])


# --- the predictions reader --------------------------------------------------------------------------------------

_FIELD = st.one_of(st.text(max_size=10), st.sampled_from(['"', "a,b", '"x""y"', "\n", "\r", "\ud800", "\x00", ",,"]))


def _json_line(fields: list[str]) -> str:
    """A JSON line from up to four fields: id and prediction (JSON-escaped, so lone surrogates become \\ud800), then
    a duplicated key or raw text."""
    pid, prediction, *rest = [*fields, "a", "b"]
    line = '{"id": ' + json.dumps(pid) + ', "prediction": ' + json.dumps(prediction)
    if len(fields) > 2:
        line += ', "prediction": ' + json.dumps(fields[2]) if len(fields) == 3 else rest[0]
    return line + "}\n"


@SETTINGS
@given(
    suffix=st.sampled_from([".csv", ".jsonl"]),
    lines=st.lists(st.lists(_FIELD, max_size=4), max_size=5),
    header=st.sampled_from(["id,prediction", "id,prediction,prediction", "prediction,id,extra", "id", ""]),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
    raw=st.binary(max_size=40),
)
def test_the_predictions_reader_raises_only_named_errors(
    tmp_path_factory, suffix, lines, header, encoding, raw
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("predictions") / f"p{suffix}"
    if suffix == ".csv":
        text = header + "\n" + "".join(",".join(fields) + "\n" for fields in lines)
    else:
        text = "".join(_json_line(fields) for fields in lines)
    path.write_bytes(text.encode(encoding, errors="surrogatepass" if encoding == "utf-8" else "replace") + raw)
    try:
        found = read_predictions(path)
    except PredictionsError as error:
        assert str(path) in str(error)
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())
        for value in found.values():
            value.encode("utf-8")  # no lone surrogate gets through


# --- the NIfTI header parser -------------------------------------------------------------------------------------

_HEADER = nib.Nifti1Image(np.zeros((4, 3, 2), dtype=np.int16), np.eye(4)).to_bytes()


@SETTINGS
@given(
    dims=st.lists(st.integers(-(2**15), 2**15 - 1), min_size=8, max_size=8),
    datatype=st.sampled_from([2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2304, 0, 7, 9999]),
    floats=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=4, max_size=4),
    codes=st.tuples(st.integers(-5, 5), st.integers(-5, 5)),
    cut=st.integers(0, 400),
    gz=st.booleans(),
)
def test_the_nifti_header_parser_raises_only_volume_errors(
    tmp_path_factory, dims, datatype, floats, codes, cut, gz
) -> None:  # type: ignore[no-untyped-def]
    blob = bytearray(_HEADER)
    struct.pack_into("<8h", blob, 40, *dims)
    struct.pack_into("<h", blob, 70, datatype)
    struct.pack_into("<2f", blob, 112, *floats[:2])  # scl_slope, scl_inter
    struct.pack_into("<2h", blob, 252, *codes)  # qform_code, sform_code
    struct.pack_into("<f", blob, 280, floats[2])  # srow_x[0]
    struct.pack_into("<f", blob, 256, floats[3])  # quatern_b
    data = bytes(blob[: len(blob) - cut]) if cut else bytes(blob)
    path: Path = tmp_path_factory.mktemp("nifti") / ("v.nii.gz" if gz else "v.nii")
    path.write_bytes(gzip.compress(data) if gz else data)
    try:
        header = read_volume_header(path)
    except VolumeError as error:
        assert str(path) in str(error)
    else:
        assert all(n >= 0 for n in header.shape)
        assert header.affine is not None and np.isfinite(header.affine).all()
