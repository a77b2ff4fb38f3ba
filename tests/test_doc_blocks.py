"""Every ```python and ```bash block of the project's documents runs, or is parsed by the real argument parser of the
command it calls, and every relative link between the documents points at a file and heading that exist.

Python blocks are executed with the placeholders of `python_substitutions` replaced (the published tables, CT-RATE,
the release archive, exported folders) and the names of `PRELUDE` defined where a block uses them without defining
them. Bash blocks are split into commands; each command is handled by the rule for its program (`check_command`):
`rad3d-hf` commands in `RAD3D_RUN` run on the demo data, the others are parsed by `rad3d_hf.cli.build_parser()`; the
example scripts are parsed by their own `parse_args` (benchmarks: by their `argparse` parser, stopped right after
parsing); `accelerate launch` and `torchrun` by their parsers and then the script's; `hf` by huggingface_hub's command
line, `lmms-eval` by its own parser; `pip install` lines are checked against the extras `pyproject.toml` declares.
What is not run, and why, is in `NOT_RUN`, `RAD3D_PARSE_ONLY` and `RUN_ELSEWHERE`.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import importlib.util
import inspect
import io
import json
import re
import shlex
import symtable
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest

from tests.conftest import real_tables_or_skip
from tests.test_m3d_rad_examples import load_example

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "examples" / "README.md",
    ROOT / "examples" / "benchmarks" / "README.md",
    *sorted((ROOT / "model_cards").glob("*.md")),
    ROOT / "metric" / "3d-rad-metric" / "README.md",
    ROOT / "loading_script" / "README.md",
    ROOT / "loading_script" / "PUBLISHING.md",
]
LANGUAGES = {"python", "bash", "bibtex", ""}  # bibtex and plain blocks are citations and prompts, not code

# Blocks another test runs (document, a line of the block): the test.
RUN_ELSEWHERE = {
    ("README.md", 'always_no = ["B. No"]'): "tests/test_readme.py runs the Quickstart's Python block",
    ("README.md", ">>> from rad3d_hf.scoring import score"): "tests/test_scoring_readme.py runs it as a doctest",
    ("README.md", "ruff check . && ruff format --check ."): (
        ".ci/run runs the Tests block (tests/test_ci_matches_readme.py)"
    ),
    ("metric/3d-rad-metric/README.md", '>>> metric = evaluate.load("metric/3d-rad-metric")'): (
        "tests/test_scoring_evaluate.py runs the metric card's example as a doctest"
    ),
    ("examples/README.md", 'run = Path("~/.cache/huggingface/rad3d_hf/runs/m3d-rad-tiny")'): (
        "tests/test_m3d_rad_examples.py::test_tiny_preset_end_to_end runs it on its own tiny run"
    ),
    ("examples/README.md", 'ds = load_dataset("3d-rad", "all", split="test", data_dir="3d-rad"'): (
        "tests/test_release_archive.py::test_the_readme_release_blocks_run_on_the_replica"
    ),
}
# Bash blocks another test runs: parsed here, not run again (document, a line of the block): the test.
PARSED_HERE_RUN_ELSEWHERE = {
    ("examples/README.md", "rad3d-hf show test/task4/lung_nodule/000003"): "tests/test_release_archive.py",
    ("examples/README.md", "rad3d-hf verify --data-dir 3D-RAD"): "tests/test_release_archive.py",
    ("examples/README.md", "hf auth login"): "tests/test_preprocess_remote.py (against a served copy)",
    (
        "README.md",
        "--judge-url http://127.0.0.1:8000/v1",
    ): "tests/test_judge.py (score --judge-url against a served judge)",
}
# Commands that are neither run nor parsed, by program: why.
NOT_RUN = {
    "python -m venv": "creates a virtual environment (CI starts from one)",
    ".": "activates a virtual environment: shell state",
    "huggingface-cli": "needs a Hub account; huggingface_hub 1.0 and later ship this as `hf auth login`",
}
RAD3D_RUN = {"tasks", "score", "compare", "show", "verify", "export", "lmms-eval-path"}
RAD3D_PARSE_ONLY = {
    "demo": "writes the whole demo source (a minute); every test that reads the demo data makes it",
    "preprocess": "decodes every volume of a split (minutes); tests/test_volume_preprocess.py runs it",
    "bench": "writes a 76 MB phantom and times it (minutes); tests/test_volume_bench.py runs it small",
    "lmms-eval-predictions": "reads an lmms-eval run's samples; tests/test_lmms_eval_tasks.py runs it",
    "leaderboard": "reads results records of scored runs; tests/test_leaderboard.py scores three runs and builds the page",
}
# Exports run on task6/test only: the whole demo folder takes seconds, tests/test_hub_export*.py write it whole.
EXPORT_SUBSET = ["--configs", "task6", "--splits", "test"]
# What each placeholder of a command line stands for here (the demo's volumes only match the demo's own tables).
TABLES_PLACEHOLDERS = {"path/to/3D-RAD", "PATH/TO/3D-RAD", "3d-rad", "3D-RAD", "../shared/3drad"}
VOLUMES_PLACEHOLDERS = {"path/to/CT-RATE", "path/to/CT-RATE/dataset", "CT-RATE/dataset", "PATH/TO/CT-RATE"}
PLACEHOLDER = re.compile(r"path/to|PATH/TO")


@dataclass
class Block:
    path: str
    line: int
    language: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"

    def marked(self, table: dict[tuple[str, str], str]) -> str | None:
        return next((why for (path, line), why in table.items() if path == self.path and line in self.code), None)


def fenced_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    current: list[str] = []
    start, language = 0, None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = re.match(r"^\s*```(\S*)\s*$", line)
        if language is None and fence:
            language, start, current = fence[1], number, []
        elif language is not None and fence and not fence[1]:
            blocks.append(Block(path.relative_to(ROOT).as_posix(), start, language, "\n".join(current) + "\n"))
            language = None
        elif language is not None:
            current.append(line)
    return blocks


ALL_BLOCKS = [b for path in DOCUMENTS for b in fenced_blocks(path)]
CODE_BLOCKS = [b for b in ALL_BLOCKS if b.language in ("python", "bash")]


class Sources:
    """The data the placeholders stand for: the demo source, the release replica, two small exported folders."""

    def __init__(self, replica: tuple[Path, Path, dict], tmp: Path) -> None:
        self.root, self.archive, _ = replica
        self.volumes = self.root / "volumes"
        self.tmp = tmp

    def _export(self, name: str, **options: object) -> Path:
        from rad3d_hf.hub.export import export_dataset

        out = self.tmp / name
        if not (out / "README.md").exists():
            source = options if "data_dir" in options else {"demo": True, **options}
            export_dataset(out, configs=["task6"], splits=["test"], progress=False, **source)  # type: ignore[arg-type]
        return out

    @cached_property
    def qa_export(self) -> Path:
        # From the published tables: the demo's QA-only folder holds empty Parquet shards (its test Task 5/6 files d-h
        # have no rows), which datasets 5 cannot read.
        return self._export("qa", data_dir=str(real_tables_or_skip()))

    @cached_property
    def volume_export(self) -> Path:
        return self._export("linked")


@pytest.fixture(scope="module")
def sources(release_replica, tmp_path_factory) -> Sources:
    return Sources(release_replica, tmp_path_factory.mktemp("doc-exports"))


# ---------------------------------------------------------------------------------------------------- python blocks


def python_substitutions(code: str, src: Sources) -> dict[str, str]:
    """Quoted placeholder -> the Python literal it stands for here."""
    paths = {
        '"PATH/TO/3D-RAD"': src.root,
        '"path/to/CT-RATE/dataset"': src.volumes,
        '"path/to/CT-RATE"': src.volumes,
        '"3d-rad/Images/test.zip"': src.archive,
        '"metric/3d-rad-metric"': ROOT / "metric" / "3d-rad-metric",  # the module folder, from the clone's root
    }
    found = {k: repr(str(v)) for k, v in paths.items() if k in code}
    if '"path/to/3D-RAD"' in code:  # QA-only blocks read the published tables; with CT-RATE's, the demo's
        found['"path/to/3D-RAD"'] = repr(str(src.root if "CT-RATE" in code else real_tables_or_skip()))
    if 'volumes_dir="CT-RATE/dataset"' in code:  # the card's short form: tables from the Hub, the default
        found['volumes_dir="CT-RATE/dataset"'] = f"volumes_dir={str(src.volumes)!r}, data_dir={str(src.root)!r}"
    if 'data_dir="3d-rad"' in code:
        found['data_dir="3d-rad"'] = f"data_dir={str(src.root)!r}"
    for name in ('"path/to/this/folder"', '"3D-RAD-hub"', '"<namespace>/3D-RAD"'):
        if name in code:
            found[name] = repr(str(src.qa_export))
    if '"3D-RAD-local"' in code:
        found['"3D-RAD-local"'] = repr(str(src.volume_export))
    for stem in re.findall(r'"((?:test|train)_\d+_[a-z]_\d+\.nii\.gz)"', code):
        assert (src.volumes / stem).is_file(), f"{stem} is not a demo volume: name one that is"
        found[f'"{stem}"'] = repr(str(src.volumes / stem))
    return found


def _demo_rows():
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.demo import ensure_demo_data

    return list(read_rows(str(ensure_demo_data()), "test", "task4"))


# Names a block uses that its prose defines ("`rows` are the dataset's rows").
PRELUDE = {
    "rows": _demo_rows,
    "predictions": lambda: [row["answer"] for row in _demo_rows()],
}


def free_names(code: str) -> set[str]:
    top = symtable.symtable(code, "block", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    used, tables = set(), [top]
    while tables:
        table = tables.pop()
        tables.extend(table.get_children())
        used |= {s.get_name() for s in table.get_symbols() if s.is_referenced() and (table is top or s.is_global())}
    return used - defined - set(dir(builtins))


class _SignatureOnly:
    """Stands in for huggingface_hub.HfApi: each call is bound to the real method's signature, nothing is sent."""

    from huggingface_hub import HfApi as real

    def __init__(self, *args: object, **kwargs: object) -> None:
        inspect.signature(self.real).bind(*args, **kwargs)

    def __getattr__(self, name: str):
        method = getattr(self.real, name)
        return lambda *args, **kwargs: inspect.signature(method).bind(self, *args, **kwargs)


def run_python(block: Block, src: Sources, monkeypatch: pytest.MonkeyPatch) -> None:
    code = block.code
    for placeholder, literal in python_substitutions(code, src).items():
        code = code.replace(placeholder, literal)
    assert not PLACEHOLDER.search(code), f"{block}: a placeholder without a substitution (python_substitutions)"
    namespace: dict[str, object] = {"__name__": "doc_block"}
    for name in free_names(code):
        assert name in PRELUDE, f"{block}: uses {name!r} without defining it (define it, or add it to PRELUDE)"
        namespace[name] = PRELUDE[name]()
    if "HfApi" in code:  # needs the Hub and a token with write access
        import huggingface_hub

        monkeypatch.setattr(huggingface_hub, "HfApi", _SignatureOnly)
    exec(compile(code, str(block), "exec"), namespace)


# ------------------------------------------------------------------------------------------------------ bash blocks


class _Parsed(BaseException):
    """Raised by a benchmark's parser right after it parsed: the benchmark itself does not run."""


def command_lines(code: str) -> list[list[str]]:
    from rad3d_hf.cli import main

    def evaluated(match: re.Match) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(shlex.split(match[1])[1:]) == 0, match[0]
        return out.getvalue().strip()

    text = re.sub(r"\$\((rad3d-hf [^)]*)\)", evaluated, code.replace("\\\n", " "))
    commands: list[list[str]] = []
    for line in text.splitlines():
        command: list[str] = []
        for token in [*shlex.split(line, comments=True), "&&"]:
            if token in ("&&", ";"):
                commands += [command] if command else []
                command = []
            else:
                command.append(token)
    return commands


def rad3d_argv(argv: list[str], src: Sources) -> list[str]:
    from rad3d_hf.cli import build_parser

    out = []
    for arg in argv:
        if arg.endswith("Images/test.zip"):
            out.append(str(src.archive))
        elif arg.rstrip("/") in TABLES_PLACEHOLDERS:
            out.append(str(src.root))
        elif arg.rstrip("/") in VOLUMES_PLACEHOLDERS:
            out.append(str(src.volumes))
        else:
            out.append(arg)
    assert not any(PLACEHOLDER.search(a) for a in out), f"a placeholder without a substitution: {argv}"
    options = build_parser().parse_args(out)
    if hasattr(options, "data_dir") and options.data_dir is None and not getattr(options, "demo", False):
        out += ["--data-dir", str(src.root)]  # no source named: the Hub dataset, the demo's tables here
    if out[0] == "export" and "--configs" not in out:
        out += EXPORT_SUBSET
    return out


def write_predictions(options: argparse.Namespace, files: list[str], root: Path) -> None:
    """The predictions files a score or compare line reads, made from the answers (a file already there is kept)."""
    from rad3d_hf.data.rows import read_rows

    rows = {r["id"]: r for c in options.config for r in read_rows(str(root), options.split, c)}
    for name in files:
        path = Path(name)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps({"id": i, "prediction": r["answer"]}) + "\n" for i, r in rows.items()))


_RAN: set[tuple[str, ...]] = set()


def check_rad3d(argv: list[str], src: Sources, parse_only: bool) -> str:
    from rad3d_hf.cli import build_parser, main

    command = argv[0]
    if command not in RAD3D_RUN | set(RAD3D_PARSE_ONLY):
        pytest.fail(f"rad3d-hf {command}: add it to RAD3D_RUN or RAD3D_PARSE_ONLY")
    argv = rad3d_argv(argv, src)
    options = build_parser().parse_args(argv)
    if parse_only or command in RAD3D_PARSE_ONLY:
        return "parsed"
    files = [str(getattr(options, name)) for name in {"score": ["predictions"], "compare": ["a", "b"]}.get(command, [])]
    key = tuple("PREDICTIONS" if a in files else a for a in argv)
    if files and key in _RAN:
        return "ran for an earlier block (the same command on the same made-up predictions)"
    if files:
        write_predictions(options, files, src.root)
    code = main(argv)
    # verify on the replica: its volumes match the release, its tables are the demo's, not the published counts
    assert code in ((0, 1) if command == "verify" else (0,)), f"rad3d-hf {' '.join(argv)} exited {code}"
    _RAN.add(key)
    return "ran"


def parse_script(script: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    path = ROOT / script
    assert path.is_file(), f"{script} does not exist"
    if path.parent.name == "examples":
        module = load_example(path.stem)
        if path.stem == "finetune_m3d_rad":
            pytest.importorskip("transformers")
            module.parse_args([*args, "--bf16", "false"])  # bf16 needs a GPU; the rest parses as on one
        else:
            module.parse_args(args)
        return "parsed"
    spec = importlib.util.spec_from_file_location(f"doc_{path.stem}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    parse_args = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(parse_args(self, args, namespace))

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        patch.setattr(sys, "argv", [str(path), *args])
        with pytest.raises(_Parsed):
            module.main()
    return "parsed"


def parse_hf(args: list[str]) -> str:
    import click
    from huggingface_hub.cli.hf import app

    ctx, command, rest, name = click.Context(app, info_name="hf"), app, list(args), "hf"
    while isinstance(command, click.Group):
        name, command, rest = command.resolve_command(ctx, rest)
        if isinstance(command, click.Group):
            ctx = click.Context(command, info_name=name, parent=ctx)
    command.make_context(name, rest, parent=ctx)
    return "parsed"


def check_pip(args: list[str]) -> str:
    from packaging.requirements import Requirement

    pyproject = (ROOT / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    declared = set(re.findall(r"^([a-z0-9-]+) = \[", section, flags=re.M))  # the extras (Python 3.10: no tomllib)
    specs, skip = [], False
    for arg in args:
        if skip or arg in ("-e", "--no-deps", "-U", "--upgrade"):
            skip = False
        elif arg in ("--index-url", "-i", "--extra-index-url"):
            skip = True
        else:
            specs.append(arg)
    for spec in specs:
        requirement = Requirement("rad3d-hf" + spec[1:] if spec.startswith(".") else spec)
        if requirement.name == "rad3d-hf":
            assert requirement.extras <= declared, f"pip install {spec}: pyproject.toml has no {requirement.extras}"
    return "extras checked against pyproject.toml"


def check_command(argv: list[str], src: Sources, parse_only: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    while argv and re.match(r"^[A-Z_]+=", argv[0]):  # VAR=value before a command
        argv = argv[1:]
    program = argv[0]
    if program == "rad3d-hf":
        return check_rad3d(argv[1:], src, parse_only)
    if program in ("python", "python3") and argv[1:3] == ["-m", "venv"]:
        return "not run: " + NOT_RUN["python -m venv"]
    if program in ("python", "python3") and argv[1:4] == ["-m", "pip", "install"]:
        return check_pip(argv[4:])
    if program == "pip" and argv[1] == "install":
        return check_pip(argv[2:])
    if program in ("python", "python3") and argv[1].startswith("examples/"):
        return parse_script(argv[1], argv[2:], monkeypatch)
    if program == "export":
        monkeypatch.setenv(*argv[1].split("=", 1))
        return "set"
    if program == "hf":
        return parse_hf(argv[1:])
    if program in ("accelerate", "torchrun"):
        if program == "accelerate":
            from accelerate.commands.launch import launch_command_parser

            assert argv[1] == "launch", argv
            options = launch_command_parser().parse_args(argv[2:])
        else:
            from torch.distributed.run import get_args_parser

            options = get_args_parser().parse_args(argv[1:])
        return parse_script(options.training_script, options.training_script_args, monkeypatch)
    if program == "lmms-eval":
        try:
            from lmms_eval.__main__ import parse_eval_args
        except ImportError:
            return "UNCHECKED: lmms-eval is not installed"
        monkeypatch.setattr(sys, "argv", argv)
        parse_eval_args()
        return "parsed"
    if program in NOT_RUN:
        return "not run: " + NOT_RUN[program]
    pytest.fail(f"no rule for the program {program!r}: add one to check_command")


def run_bash(block: Block, src: Sources, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parse_only = block.marked(PARSED_HERE_RUN_ELSEWHERE) is not None
    return [f"{' '.join(c)[:60]}: {check_command(c, src, parse_only, monkeypatch)}" for c in command_lines(block.code)]


# ------------------------------------------------------------------------------------------------------------ tests


def test_the_documents_hold_code_blocks_of_known_languages():
    assert len(CODE_BLOCKS) > 40
    assert {b.language for b in ALL_BLOCKS} <= LANGUAGES, "a block this test would not run: use ```python or ```bash"
    for path, line in [*RUN_ELSEWHERE, *PARSED_HERE_RUN_ELSEWHERE]:
        assert any(b.path == path and line in b.code for b in CODE_BLOCKS), f"no block of {path} holds {line!r}"


@pytest.mark.parametrize("block", CODE_BLOCKS, ids=str)
def test_block(block: Block, sources, tmp_path, monkeypatch, capsys) -> None:
    elsewhere = block.marked(RUN_ELSEWHERE)
    if elsewhere:
        pytest.skip(elsewhere)
    monkeypatch.chdir(tmp_path)  # what a block writes lands here
    # Flags are spelled in full: a flag renamed to a longer name must not pass as an abbreviation of it.
    monkeypatch.setattr(argparse.ArgumentParser, "_get_option_tuples", lambda self, option_string: [])
    if block.language == "python":
        run_python(block, sources, monkeypatch)
        return
    outcomes = run_bash(block, sources, monkeypatch)
    missing = [o for o in outcomes if "UNCHECKED" in o]
    if missing:
        pytest.skip("; ".join(missing))


def github_anchors(text: str) -> set[str]:
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"^\s*```.*?^\s*```\s*$", "", text, flags=re.S | re.M)
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+?)\s*#*$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_at_files_and_headings_that_exist(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    prose = re.sub(r"^\s*```.*?^\s*```\s*$", "", text, flags=re.S | re.M)
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"^[a-z]+:", target):
            continue  # a web address
        assert not target.startswith("/"), f"{document.name}: {target} is absolute; link relative to the document"
        file, _, anchor = target.partition("#")
        linked = (document.parent / file).resolve() if file else document
        assert linked.exists(), f"{document.relative_to(ROOT)}: {target} points at no file"
        if anchor:
            assert anchor in github_anchors(linked.read_text(encoding="utf-8")), (
                f"{document.relative_to(ROOT)}: {target}: no heading with that anchor"
            )
