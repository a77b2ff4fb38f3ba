"""CI runs what the README tells a new user to run: the Quickstart's install lines, then the Tests block's lines."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(section: str) -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [
        [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")] for block in blocks
    ]


def _section(readme: str, title_part: str) -> str:
    for part in re.split(r"^## ", readme, flags=re.M)[1:]:
        title = part.splitlines()[0]
        if title_part in title:
            return part
    raise AssertionError(f"README.md has no '## ...{title_part}...' section")


def _commands(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_ci_runs_the_quickstart_install_lines_and_the_test_block() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = _bash_blocks(_section(readme, "Quickstart"))[0]
    tests = _bash_blocks(_section(readme, "Test"))[0]
    installs = [line for line in quickstart if "pip install" in line]
    assert installs and installs[0].endswith("torch==2.13.0"), "torch must be installed first and pinned"
    assert any(line.startswith("python examples/finetune_m3d_rad.py") for line in quickstart)
    assert any("pytest" in line for line in tests)

    ci = _commands((ROOT / ".ci" / "run").read_text())
    ci_installs = [line for line in ci if "pip install" in line]
    assert ci_installs == installs, "CI must install exactly what the Quickstart installs, no private steps"
    # the Tests block's lines are CI's last lines, in the same order
    assert ci[-len(tests) :] == tests
    # nothing else runs besides the set-up (cd, set, exports)
    rest = ci[: -len(tests)]
    others = [line for line in rest if "pip install" not in line]
    assert all(line.startswith(("set ", "cd ", "export ")) for line in others), others
