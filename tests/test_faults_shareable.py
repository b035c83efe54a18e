"""Faults, round two: what a clean run prints in the notebooks others read names no folder of this machine
(issue 27): warnings, raised by a library or by the study, and the folder 01 reports."""

import os
import subprocess
import sys
import sysconfig

from nova_lab.core import paths
from nova_lab.core.params import DataPrepParams
from nova_lab.data import data_prep

WARN = """
import sysconfig, warnings
from nova_lab.core import paths
from nova_lab.core.notebook_utils import record  # as every notebook's imports cell does
from nova_lab.core.records import RecordStore

warnings.simplefilter("always")
store = paths.run_dir("r") / "answers.jsonl"
store.write_text("not json\\n")
RecordStore(store).keys()
warnings.warn_explicit("Sample size too small for normal approximation.", RuntimeWarning,
                       sysconfig.get_path("purelib") + "/scipy/stats/_axis_nan_policy.py", 531)
"""


def test_warnings_in_a_notebooks_kernel_name_folders_relative_to_the_project_and_the_outputs(tmp_path):
    outputs = tmp_path / "outputs"
    kernel = subprocess.run([sys.executable, "-c", WARN], cwd=paths.NOTEBOOKS, capture_output=True, text=True,
                            env=os.environ | {"NOVA_LAB_OUTPUTS": str(outputs)}, check=True)
    assert "outputs/r/answers.jsonl: skipped 1 unreadable line(s)" in kernel.stderr
    assert "site-packages/scipy/stats/_axis_nan_policy.py:531: RuntimeWarning: Sample size" in kernel.stderr
    for folder in (tmp_path, paths.PROJ_ROOT, sysconfig.get_path("purelib"), sys.prefix):
        assert str(folder) not in kernel.stderr


def test_step_01_reports_its_folder_relative_to_the_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "outputs"))
    prepared = data_prep.prepare(DataPrepParams(run_name="r", backend="local", seed=1, services=["sqs"],
                                                qa_generator="template", n_train=16, train_phrasings_per_fact=2,
                                                n_validation=8, n_test=4))
    assert prepared.folder == "outputs/r/data"


def test_text_names_the_folders_of_this_machine_as_shareable_names_them(tmp_path, monkeypatch):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "outputs"))
    text = f"{paths.PROJ_ROOT}/params/study.yaml and {tmp_path}/outputs/r, not {tmp_path}/outputs2/x"
    assert paths.shareable_text(text) == f"./params/study.yaml and outputs/r, not {tmp_path}/outputs2/x"
    assert paths.shareable(tmp_path / "outputs" / "r") == "outputs/r"
