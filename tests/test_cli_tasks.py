from pathlib import Path

from rad3d_hf.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_tasks_table_in_readme_is_what_the_command_prints(real_tables, capsys):
    assert main(["tasks", "--data-dir", str(real_tables)]) == 0
    table = capsys.readouterr().out.strip()
    assert (
        "| 4 | Existence Detection | Task4_Existence_Detection (4) | closed (2 options) | 18 / 18 | 100,170 | 23,472 |"
        in table
    )
    assert "**136,195** | **33,910** |" in table
    assert table in README.read_text(), "README's task table is stale: rerun `rad3d-hf tasks --data-dir ...`"


def test_tasks_without_tables_prints_the_catalogue(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "| 1 | Anomaly Detection | Task2_Anomaly_Detection (2) | open | 4 / 4 |" in out
