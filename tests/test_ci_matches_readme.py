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
    test_installs = [line for line in tests if "pip install" in line]  # what only the tests need (lmms-eval)
    assert ci_installs == installs + test_installs, (
        "CI must install exactly what the Quickstart and the Tests block install, no private steps"
    )
    # the Tests block's lines are CI's last lines, in the same order
    assert ci[-len(tests) :] == tests
    # nothing else runs besides the set-up (cd, set, exports)
    rest = ci[: -len(tests)]
    others = [line for line in rest if "pip install" not in line]
    assert all(line.startswith(("set ", "cd ", "export ")) for line in others), others


def test_the_tests_install_lmms_eval_as_the_readme_does_on_a_cpu() -> None:
    """The Tests block installs lmms-eval without its dependencies (no torchvision, so torch stays the CPU build) and
    with the ``lmms-minimal`` extra, at the pin of pyproject's ``lmms`` extra; then tests/test_lmms_eval_cli.py runs."""
    readme = (ROOT / "README.md").read_text()
    tests = _bash_blocks(_section(readme, "Test"))[0]
    (line,) = [line for line in tests if "lmms-eval" in line]
    pin = re.search(r'^lmms = \["(lmms-eval[^"]*)"', (ROOT / "pyproject.toml").read_text(), flags=re.M)
    assert pin, "pyproject.toml has no lmms extra pinning lmms-eval"
    assert f'pip install --no-deps "{pin.group(1)}"' in line and "lmms-minimal" in line, line
    assert line.index("lmms-minimal") < line.index("--no-deps")  # its dependencies first, then lmms-eval itself
    pytest_line = next(line for line in tests if "pytest" in line)
    assert tests.index(line) < tests.index(pytest_line)
