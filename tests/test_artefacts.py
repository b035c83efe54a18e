"""The run's layout in one place: paths, the error that names the step to run, and outputs/README.md."""

import pytest

from nova_lab.answering import inference
from nova_lab.core import artefacts, paths
from nova_lab.core.study_steps import StepNotRun
from nova_lab.data import data_prep
from nova_lab.retrieval import kb_build


@pytest.fixture
def outputs(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path


def test_a_missing_artefact_names_the_notebook_and_the_parameters_that_make_it(outputs):
    with pytest.raises(StepNotRun, match=r"outputs/r/data/qa.parquet is missing: run notebooks/01_data_prep"
                                                r".ipynb with run_name='r' \(nova-lab run 01"):
        data_prep.read_qa("r")
    with pytest.raises(StepNotRun, match=r"outputs/r/kb/manifest.json is missing: run notebooks/02_kb_build"):
        kb_build.open_knowledge_base("r")
    with pytest.raises(StepNotRun, match=r"run notebooks/03_fine_tune.ipynb with run_name='r', model='lite' "
                                                r"\(nova-lab run 03 --params params/lite.yaml"):
        inference.adapter_key("r", "lite")
    with pytest.raises(StepNotRun, match=r"adapter-repeat2/manifest.json is missing: .* with finetune_repeats = 3"):
        inference.adapter_key("r", "lite", 2)


def test_a_folder_whose_files_were_removed_is_incomplete_not_used(outputs):
    from nova_lab.core.caching import write_manifest

    folder = artefacts.path(artefacts.KB, "r")
    (folder / "chunks.parquet").write_text("x")
    write_manifest(folder, {"key": "k"})
    assert artefacts.require_complete(artefacts.KB, "r")["key"] == "k"
    (folder / "chunks.parquet").unlink()
    with pytest.raises(StepNotRun, match=r"outputs/r/kb is incomplete .* run notebooks/02_kb_build.* again"):
        kb_build.open_knowledge_base("r")


def test_paths_follow_the_table(outputs):
    assert artefacts.path(artefacts.ANSWERS, "r", "micro") == paths.outputs_root() / "r" / "micro" / "answers.jsonl"
    assert artefacts.path(artefacts.ADAPTER, "r", "micro", 1).name == "adapter-repeat1"
    with pytest.raises(ValueError, match="per model"):
        artefacts.path(artefacts.JUDGMENTS, "r")


def test_outputs_readme_shows_the_layout_as_the_table_defines_it():
    text = (paths.PROJ_ROOT / "outputs" / "README.md").read_text()
    start, end = text.index(artefacts.LAYOUT_START), text.index(artefacts.LAYOUT_END) + len(artefacts.LAYOUT_END)
    assert text[start:end] == artefacts.layout(), "run `python -m nova_lab.core.artefacts` and paste it into outputs/README.md"
