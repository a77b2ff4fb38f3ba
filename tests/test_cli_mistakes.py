"""Every ordinary mistake with a ``rad3d-hf`` command ends with exit status 2 and one line naming it, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rad3d_hf.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mistakes")
    predictions = root / "p.jsonl"
    predictions.write_text('{"id": "test/task4/lung_nodule/000000", "prediction": "B. No"}\n')
    a_file = root / "a_file.txt"
    a_file.write_text("not a folder\n")
    (root / "tables_elsewhere" / "test").mkdir(parents=True)  # a test/ folder holding no tables
    return {"root": root, "predictions": predictions, "file": a_file, "empty": root / "tables_elsewhere"}


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = int(stop.code or 0)
    return code, capsys.readouterr().err


MISTAKES = {
    # data source
    "score offline without data": (["score", "{predictions}"], "pass --data-dir DIR"),
    "tasks --data-dir typo": (["tasks", "--data-dir", "{root}/no_such_folder"], "no_such_folder: no such folder"),
    "tasks --data-dir a file": (["tasks", "--data-dir", "{file}"], "is a file"),
    "score --data-dir without tables": (
        ["score", "{predictions}", "--data-dir", "{empty}", "--config", "task4"],
        "Task4_Existence_Detection/Arterial wall calcification.csv not found",
    ),
    "unknown config": (["score", "{predictions}", "--demo", "--config", "task4_lung"], "unknown config 'task4_lung'"),
    "export unknown config": (["export", "--out", "{root}/e", "--demo", "--configs", "tsk4"], "unknown config 'tsk4'"),
    # predictions and outputs
    "a folder as predictions": (["score", "{root}", "--demo"], "is a folder; pass the predictions file"),
    "missing predictions": (["score", "{root}/nope.jsonl", "--demo"], "predictions file"),
    "score --out naming a file": (["score", "{predictions}", "--demo", "--out", "{file}"], "--out names a folder"),
    "score unwritable --out": (["score", "{predictions}", "--demo", "--out", "/proc/rad3d_hf_scores"], "cannot write"),
    "export --out naming a file": (["export", "--out", "{file}", "--demo"], "--out names a folder"),
    "demo --out naming a file": (["demo", "--out", "{file}"], "is a file"),
    "show --out a folder": (["show", "test/task4/lung_nodule/000000", "--demo", "--out", "{root}"], "is a folder"),
    "show unwritable --out": (["show", "test/task4/lung_nodule/000000", "--demo", "--out", "/proc/x/q.png"], "cannot"),
    # show
    "show unknown id": (["show", "test/task4/lung_nodule/999999", "--demo", "--out", "{root}/q.png"], "is not in"),
    "show malformed id": (["show", "task4/lung_nodule/1", "--demo", "--out", "{root}/q.png"], "does not look like"),
    "show unknown subtask": (["show", "test/task4/spleen/1", "--demo", "--out", "{root}/q.png"], "task4_spleen"),
    "show without volumes": (["show", "test/task4/lung_nodule/000000", "--out", "{root}/q.png"], "--volumes-dir"),
    # export and bench
    "export --qa-only with --embed-volumes": (
        ["export", "--out", "{root}/e2", "--demo", "--qa-only", "--embed-volumes"],
        "exclude each other",
    ),
    "export --volumes-dir typo": (["export", "--out", "{root}/e3", "--demo", "--volumes-dir", "{root}/nv"], "no such"),
    "bench --file missing": (["bench", "--file", "{root}/nope.nii.gz"], "--file"),
    "negative demo seed": (["demo", "--demo-seed", "-1"], "non-negative"),
    "unknown option": (["score", "{predictions}", "--bogus"], "unrecognized arguments: --bogus"),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_is_exit_2_and_one_line(name: str, files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    argv, expected = MISTAKES[name]
    argv = [part.format(**files) for part in argv]
    code, err = _run(argv, capsys)
    assert code == 2, (name, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("rad3d-hf"), lines[0]
    assert expected in lines[0], lines[0]
    # a hint, not every config name (the temporary folder's own path, longer under xdist, does not count)
    assert len(lines[0].replace(str(files["root"]), "ROOT")) < 400


def test_unreachable_hub_is_one_line_saying_what_to_pass(
    files: dict[str, Path], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: the connection is refused
    for module in [m for m in sys.modules if m == "huggingface_hub.constants"]:
        monkeypatch.setattr(sys.modules[module], "ENDPOINT", "http://127.0.0.1:9", raising=False)
        monkeypatch.setattr(sys.modules[module], "HF_HUB_OFFLINE", False, raising=False)
    code, err = _run(["score", str(files["predictions"]), "--config", "task4_lung_nodule"], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "pass --data-dir DIR" in err and "--demo" in err


def test_bench_on_a_core_install_runs_the_numpy_parts(tmp_path: Path) -> None:
    import subprocess

    script = (
        "import sys\n"
        "for name in ('torch', 'scipy', 'monai', 'transformers'):\n"
        "    sys.modules[name] = None  # as on a core install: importing them fails\n"
        "from rad3d_hf.cli import main\n"
        "sys.exit(main(['bench', '--shape', '40', '32', '16', '--repeats', '1', '--volumes', '2']))\n"
    )
    env = {**__import__("os").environ, "HF_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "decode: rad3d_hf.read_volume" in done.stdout and "preprocess: M3DTransform" in done.stdout
    assert "torch is not installed: pip install 'rad3d-hf[train]'" in done.stdout
    assert "scipy is not installed" in done.stdout


def test_no_help_page_shows_restructuredtext_markup(capsys: pytest.CaptureFixture) -> None:
    from rad3d_hf.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"score", "compare", "show", "export"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as stop:
            main([name, "--help"])
        page = capsys.readouterr().out
        assert stop.value.code == 0 and page, name
        assert "``" not in page and ":func:" not in page, f"{name} --help shows markup"
