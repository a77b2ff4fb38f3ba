"""The layout the README describes is the one on disk: folders, module sizes, and nothing importing examples."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rad3d_hf"
MAX_LINES = 400


def _layout_table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("## How the code is laid out\n")
    section = text[start : text.index("\n## ", start + 1)]
    return dict(re.findall(r"^\| `(rad3d_hf/[^`]*)`[^|]*\| (.*) \|$", section, flags=re.M))


def test_readme_layout_lists_every_folder_and_module():
    table = _layout_table()
    folders = {f"rad3d_hf/{p.parent.relative_to(PACKAGE)}/".replace("/./", "/") for p in PACKAGE.rglob("__init__.py")}
    folders = {f for f in folders if f.count("/") == 2 or f == "rad3d_hf/"}  # the top folders of the package
    assert set(table) == folders, "README's layout table and the package's folders differ"
    for folder, text in table.items():
        here = PACKAGE if folder == "rad3d_hf/" else ROOT / folder
        modules = {p.stem for p in here.glob("*.py") if p.stem not in ("__init__", "__main__")}
        named = set(re.findall(r"`([a-z_0-9]+)/?`", text))
        if folder == "rad3d_hf/cli/":
            continue  # one module a command: the CLI's own help lists them
        subpackages = {p.parent.name for p in here.glob("*/__init__.py")} if folder != "rad3d_hf/" else set()
        assert modules | subpackages <= named, f"{folder}: modules missing from the README: {modules - named}"


def test_the_root_holds_only_what_every_layer_shares():
    """The folder names tell the architecture: the package's root keeps a handful of shared modules."""
    assert len(list(PACKAGE.glob("*.py"))) <= 6


def test_no_module_over_the_size_limit():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert not {p: n for p, n in sizes.items() if n > MAX_LINES}


def test_nothing_imports_examples():
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "examples" or n.startswith("examples.") for n in names), f"{path} imports examples"


def test_ci_runs_the_readme_static_checks():
    text = (ROOT / "README.md").read_text()
    # the static checks are the first line of the Tests block (tests/test_ci_matches_readme.py checks the rest)
    (checks,) = re.findall(r"^(ruff check .*)$", text, flags=re.M)
    assert checks in (ROOT / ".ci" / "run").read_text().splitlines()
