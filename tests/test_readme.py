"""The README's Quickstart Python block runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def test_quickstart_python_block_runs(capsys):
    (block,) = re.findall(r"```python\n(.*?)```", _section("Quickstart"), flags=re.S)
    exec(compile(block, "README.md#quickstart", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "->" in out and "Task 4 accuracy" in out


# The Tests block and .ci/run: tests/test_ci_matches_readme.py.
