"""The hooks that make `3d-rad` and `3d-rad-metric` resolve. If datasets or evaluate move the hook points, these fail."""

import os
import subprocess
import sys
import textwrap

import pytest

from rad3d_hf import name_registration


def _run(code: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_hook_points_still_exist():
    import datasets.inspect
    import datasets.load
    import evaluate.loading
    from datasets.load import DatasetModule
    from evaluate.loading import ImportableModule

    for module in (datasets.load, datasets.inspect):
        assert callable(getattr(module, "dataset_module_factory", None)), (
            f"{module.__name__}.dataset_module_factory moved"
        )
        assert getattr(module.dataset_module_factory, "__rad3d_hf_hook__", False), f"{module.__name__} is not hooked"
    assert getattr(evaluate.loading.evaluation_module_factory, "__rad3d_hf_hook__", False)
    assert {"module_path", "hash", "builder_kwargs"} <= set(DatasetModule.__dataclass_fields__)
    assert {"module_path", "hash"} <= set(ImportableModule.__dataclass_fields__)


def test_import_is_light_and_patches_on_later_import(tmp_path):
    result = _run(
        """
        import sys
        import rad3d_hf
        assert "datasets" not in sys.modules and "evaluate" not in sys.modules, "import rad3d_hf must stay light"
        import datasets.load, datasets.inspect
        assert datasets.load.dataset_module_factory.__rad3d_hf_hook__
        assert datasets.inspect.dataset_module_factory.__rad3d_hf_hook__
        print("ok")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_name_resolves_offline_without_scanning_the_current_folder(tmp_path, monkeypatch):
    from datasets import get_dataset_config_names, load_dataset_builder

    import rad3d_hf  # noqa: F401

    (tmp_path / "junk.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(tmp_path)
    names = get_dataset_config_names("3d-rad")
    assert names[:7] == ["task1", "task2", "task3", "task4", "task5", "task6", "all"]
    builder = load_dataset_builder("3d-rad", "task6", data_dir=str(tmp_path))
    assert type(builder).__module__.endswith("builder") and builder.config.name == "task6"
    assert builder.dataset_name == "3d-rad"


def test_other_names_are_untouched(tmp_path, monkeypatch):
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    ds = load_dataset(str(tmp_path), split="train")
    assert ds.column_names == ["a", "b"]
    with pytest.raises(Exception) as info:
        load_dataset("3d-rad-but-not-ours")
    assert "3d-rad-but-not-ours" in str(info.value)


def test_registration_is_idempotent():
    import datasets.load

    before = datasets.load.dataset_module_factory
    name_registration.register()
    assert datasets.load.dataset_module_factory is before


def test_modules_that_left_the_root_still_resolve_from_it():
    import rad3d_hf
    from rad3d_hf.data import catalogue
    from rad3d_hf.scoring import temporal_composition

    assert rad3d_hf.catalogue is catalogue and rad3d_hf.temporal_composition is temporal_composition
    from rad3d_hf import builder  # the form `from rad3d_hf import <module>` too

    assert builder.ThreeDRad is rad3d_hf.ThreeDRad
