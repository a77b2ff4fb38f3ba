"""The published release as it comes: ``Images/test.zip`` of ``(1, 32, 256, 256)`` float32 ``.npy`` arrays in
``[0, 1]`` under folders nobody documented, beside the train and test tables, with no format option anywhere."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rad3d_hf.cli import main as rad3d_hf_main
from rad3d_hf.volumes.locator import VolumeLocator
from tests.release_replica import MEMBER_ROOT


def _load(replica, tmp_path: Path, config: str = "task4", **kwargs):
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    root, archive, _ = replica
    return load_dataset(
        "3d-rad", config, data_dir=str(root), volumes_dir=str(archive), cache_dir=str(tmp_path / "cache"), **kwargs
    )


def test_the_test_split_loads_from_the_archive_and_the_model_input_is_the_stored_array(
    release_replica, tmp_path, caplog
):
    import rad3d_hf

    with caplog.at_level(logging.WARNING, logger="rad3d_hf.data.builder"):
        test = _load(release_replica, tmp_path, split="test")
    # the archive holds no train volumes: that split is left out, with one line that says so and how many it sought
    left_out = [r.getMessage() for r in caplog.records if "train split is left out" in r.getMessage()]
    assert len(left_out) == 1 and "none of the" in left_out[0] and str(release_replica[1]) in left_out[0]
    assert test.features["volume"].dtype == "string"  # npy: a path column (chosen by "auto")
    row = test[0]
    assert row["volume"].startswith("zip://") and f"{MEMBER_ROOT}/" in row["volume"]
    stored = release_replica[2][row["volume_name"]]
    model_input = rad3d_hf.M3DTransform()(row["volume"])
    assert model_input.shape == (1, 32, 256, 256) and np.array_equal(model_input, stored)


def test_asking_for_the_left_out_split_says_why(release_replica, tmp_path):
    _load(release_replica, tmp_path, split="test")
    for _ in range(2):  # prepared and then from the cache: the reason is in the error both times
        with pytest.raises(ValueError, match=r'Unknown split "train".*left out: none of the \d+ volumes'):
            _load(release_replica, tmp_path, split="train")


def test_streaming_follows_the_volumes_too(release_replica, tmp_path):
    rows = _load(release_replica, tmp_path, split="test", streaming=True)
    first = next(iter(rows))
    assert first["volume"].endswith(".zip") and first["volume_name"] in release_replica[2]


def test_a_split_with_some_volumes_missing_stays_an_error_listing_them(release_replica, tmp_path):
    root, archive, _ = release_replica
    partial = tmp_path / "partial.zip"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(partial, "w") as out:
        members = source.namelist()
        for member in members[1:]:
            out.writestr(member, source.read(member))
    dropped = members[0].rsplit("/", 1)[-1][: -len(".npy")]
    from datasets import load_dataset

    with pytest.raises(Exception) as info:
        load_dataset("3d-rad", "all", split="test", data_dir=str(root), volumes_dir=str(partial),
                     cache_dir=str(tmp_path / "c"))  # fmt: skip
    chain, error = [], info.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert any(dropped in text and "are not under" in text for text in chain)
    skipped = load_dataset("3d-rad", "all", split="test", data_dir=str(root), volumes_dir=str(partial),
                           missing_volumes="skip", cache_dir=str(tmp_path / "c"))  # fmt: skip
    assert dropped not in set(skipped["volume_name"]) and len(skipped)


def test_no_volume_of_any_split_is_an_error_saying_what_the_folder_holds(release_replica, tmp_path):
    root, _, _ = release_replica
    folder = tmp_path / "wrong"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    np.save(folder / "test_9999_a_1.npy", np.zeros((1, 2, 2, 2), np.float32))  # a volume no question names
    from datasets import load_dataset

    with pytest.raises(
        FileNotFoundError, match=r"none of the .* test questions .*holds .*1 \.npy \(e\.g\. test_9999_a_1"
    ):
        load_dataset("3d-rad", "task4", split="test", data_dir=str(root), volumes_dir=str(folder),
                     cache_dir=str(tmp_path / "c"))  # fmt: skip


def test_the_format_comes_from_the_folder_and_conflicts_are_named(tmp_path):
    folder = tmp_path / "v"
    (folder / "a" / "b").mkdir(parents=True)
    np.save(folder / "a" / "b" / "test_1_a_1.npy", np.zeros((1, 2, 2, 2), np.float32))
    assert VolumeLocator(str(folder)).volume_format == "npy"
    (folder / "test_1_a_1.nii.gz").write_bytes(b"")
    with pytest.raises(
        ValueError, match=r"test_1_a_1 is under .* in both formats: .*test_1_a_1\.nii\.gz and .*test_1_a_1\.npy"
    ):
        VolumeLocator(str(folder)).volume_format  # noqa: B018
    assert VolumeLocator(str(folder), "npy").locate("test_1_a_1").endswith("a/b/test_1_a_1.npy")
    (folder / "test_1_a_1.nii.gz").unlink()
    (folder / "test_2_a_1.nii.gz").write_bytes(b"")
    with pytest.raises(ValueError, match="holds 1 NIfTI and 1 .npy volumes; pass volume_format"):
        VolumeLocator(str(folder)).volume_format  # noqa: B018
    nifti = VolumeLocator(str(folder), "nifti")
    assert nifti.locate("test_1_a_1") is None
    assert "holds 1 .npy volumes" in nifti.describe_search("test_1_a_1")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "scan.dcm").write_bytes(b"")
    (empty / "other.dcm").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"no CT volumes under .*holds 2 \.dcm \(e\.g\. other\.dcm\)"):
        VolumeLocator(str(empty)).volume_format  # noqa: B018


def test_renderer_draws_the_release_arrays_on_their_fixed_scale(release_replica, tmp_path, caplog):
    import rad3d_hf

    row = _load(release_replica, tmp_path, split="test")[0]
    renderer = rad3d_hf.SliceRenderer(num_slices=4, size=64)
    images = renderer(row)
    pixels = np.stack([np.asarray(image, dtype=np.float32) for image in images])
    assert pixels.std() > 10 and pixels.max() > 100  # content is visible
    assert renderer.params()["auto_choice"] == "unit"
    # the fixed scale: a value of v is drawn as round(255 v) whatever the volume's own range
    half = np.full((1, 32, 8, 8), 0.5, np.float32)
    assert np.asarray(rad3d_hf.SliceRenderer(num_slices=1, size=8)(half)[0]).max() == 128
    with pytest.raises(Exception, match="not in Hounsfield units"):
        rad3d_hf.SliceRenderer("medgemma")(row)
    with pytest.raises(Exception, match="drew an earlier volume with 'unit'"):
        renderer(np.random.default_rng(0).integers(-1000, 1000, (8, 8, 8)).astype(np.float32))
    with pytest.raises(Exception, match="not an array normalised to"):
        rad3d_hf.SliceRenderer("unit")(np.random.default_rng(0).integers(-1000, 1000, (8, 8, 8)).astype(np.float32))
    with caplog.at_level(logging.WARNING, logger="rad3d_hf.transforms.slices"):
        many = rad3d_hf.SliceRenderer(num_slices=40, size=8)
        assert len(many(row)) == 32 and len(many(row)) == 32
    assert sum("40 slices asked" in r.getMessage() for r in caplog.records) == 1


def test_lmms_eval_documents_render_with_only_the_two_directories_set(release_replica, monkeypatch):
    from datasets import load_dataset

    from rad3d_hf.integrations.lmms_eval import source, task_functions

    root, archive, _ = release_replica
    for name in ("RAD3D_DEMO", "RAD3D_VOLUME_FORMAT", "RAD3D_RENDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAD3D_DATA_DIR", str(root))
    monkeypatch.setenv("RAD3D_VOLUMES_DIR", str(archive))
    monkeypatch.setenv("RAD3D_RENDER_SLICES", "2")
    monkeypatch.setenv("RAD3D_RENDER_SIZE", "32")
    source.register()
    docs = task_functions.process_docs(load_dataset(source.ENV_DATASET, "task4", split="test"))
    images = task_functions.doc_to_visual(docs[0])
    assert len(images) == 2 and np.asarray(images[0]).std() > 10


def test_show_draws_a_question_from_the_archive(release_replica, tmp_path, capsys):
    root, archive, _ = release_replica
    from rad3d_hf.data.rows import read_rows

    question = next(r for r in read_rows(str(root), "test", "task4") if r["prior_volume_names"])
    out = tmp_path / "q.png"
    code = rad3d_hf_main(["show", question["id"], "--data-dir", str(root), "--volumes-dir", str(archive),
                          "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    from PIL import Image

    assert np.asarray(Image.open(out).convert("L")).std() > 10


@pytest.mark.slow
def test_predict_answers_the_archive_and_score_scores_it(release_replica, tmp_path, capsys):
    pytest.importorskip("torch")
    from tests.test_m3d_rad_examples import load_example
    from tests.test_prediction_by_volume import build_tiny_model

    root, archive, _ = release_replica
    model = build_tiny_model(tmp_path / "model")
    output = tmp_path / "preds.jsonl"
    predict = load_example("predict")
    code = predict.main(["--model", str(model), "--data-dir", str(root), "--volumes-dir", str(archive),
                         "--config", "task4", "--max-samples", "5", "--max-new-tokens", "3", "--num-workers", "0",
                         "--output", str(output)])  # fmt: skip
    assert code == 0
    assert len(output.read_text().splitlines()) == 5
    params = json.loads(output.with_name("preds.jsonl.params.json").read_text())
    assert params["volume_format"] == "npy"
    out = tmp_path / "scores"
    code = rad3d_hf_main(["score", str(output), "--data-dir", str(root), "--config", "task4", "--allow-subset",
                          "--out", str(out), "--no-figure"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "report.json").read_text())["task4/n"] == 5


def _release_section() -> str:
    text = (Path(__file__).resolve().parents[1] / "examples" / "README.md").read_text()
    start = text.index("**The published release as it comes.**")
    return text[start : text.index("\nMeasured by ", start)]


def test_the_readme_release_blocks_run_on_the_replica(release_replica, tmp_path, capsys):
    """The README's commands for the published archive, with the replica's paths for the download's."""
    import re
    import shlex

    root, archive, _ = release_replica
    section = _release_section()
    (python_block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    code = python_block.replace('data_dir="3d-rad"', f"data_dir={str(root)!r}").replace(
        'volumes_dir="3d-rad/Images/test.zip"', f"volumes_dir={str(archive)!r}"
    )
    namespace: dict = {}
    exec(compile("from datasets import load_dataset\nimport rad3d_hf\n" + code, "README.md", "exec"), namespace)
    assert len(namespace["ds"]) and namespace["ds"].features["volume"].dtype == "string"

    # the third block (CT-RATE from the Hub) runs in tests/test_preprocess_remote.py against a served copy
    bash_block, verify_block, _ = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    commands = [c for c in bash_block.replace("\\\n", " ").splitlines() if c.strip()]
    assert commands[0].startswith("hf download")  # needs the Hub: what it fetches is the replica here
    show = shlex.split(commands[1].split("#")[0].replace("3d-rad/Images/test.zip", str(archive)))
    show = [str(root) if a == "3d-rad" else str(tmp_path / "q.png") if a == "q.png" else a for a in show]
    assert show[0] == "rad3d-hf" and rad3d_hf_main(show[1:]) == 0, capsys.readouterr().err
    assert (tmp_path / "q.png").stat().st_size > 10_000
    assert commands[2].startswith("python examples/predict.py")  # run end to end in the test below

    verify = shlex.split(verify_block.replace("\\\n", " ").replace("3D-RAD/Images/test.zip", str(archive)))
    verify = [str(root) if a == "3D-RAD" else str(tmp_path / a) if a.startswith("verify.") else a for a in verify]
    # the replica's tables are the demo's, not the published counts: the volumes match, the counts do not
    assert verify[0] == "rad3d-hf" and rad3d_hf_main([*verify[1:], "--quiet"]) == 1
    result = json.loads((tmp_path / "verify.json").read_text())
    assert (tmp_path / "verify.png").stat().st_size > 10_000
    assert not [m for m in result["mismatches"] if "volume" in m and "named" not in m], result["mismatches"]


def test_one_load_lists_the_archive_once(release_replica, tmp_path, monkeypatch):
    """Resolving the format, choosing the splits and attaching the volumes read one listing (a remote folder's
    listing costs requests)."""
    listings = []
    original = VolumeLocator.contents

    def counted(self):
        if self._contents is None:
            listings.append(self.volumes_dir)
        return original(self)

    monkeypatch.setattr(VolumeLocator, "contents", counted)
    assert len(_load(release_replica, tmp_path, split="test"))
    assert listings == [str(release_replica[1])]
