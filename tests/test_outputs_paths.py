"""Where outputs go: `NOVA_LAB_OUTPUTS` and `NOVA_LAB_MODEL_CACHE` name one absolute folder, whatever the current
folder (the CLI runs where the user stands, its kernels in notebooks/), and a folder that cannot be used is one
line naming the variable and the path."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nova_lab.core import paths


def test_a_relative_outputs_folder_is_the_same_for_the_cli_and_for_a_kernel(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", "rel-out")
    monkeypatch.chdir(tmp_path)  # where the user typed `nova-lab study`
    kernel = subprocess.run([sys.executable, "-c", "from nova_lab.core import paths; print(paths.outputs_root())"],
                            cwd=paths.NOTEBOOKS, capture_output=True, text=True, check=True).stdout.strip()
    assert paths.outputs_root() == paths.PROJ_ROOT / "rel-out" == Path(kernel)


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_setting_is_unset(monkeypatch, tmp_path, value):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", value)
    monkeypatch.setenv("NOVA_LAB_MODEL_CACHE", value)
    assert paths.outputs_root() == paths.PROJ_ROOT / "outputs"
    assert paths.model_cache_dir() == tmp_path / ".cache" / "nova-lab" / "models"


def test_a_home_folder_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", "~/nl-out")
    monkeypatch.setenv("NOVA_LAB_MODEL_CACHE", "~/nl-models")
    assert paths.run_dir("r") == tmp_path / "nl-out" / "r"
    assert paths.model_cache_dir() == tmp_path / "nl-models"


@pytest.mark.parametrize("variable, make", [("NOVA_LAB_OUTPUTS", lambda: paths.run_dir("r")),
                                            ("NOVA_LAB_MODEL_CACHE", paths.model_cache_dir)])
def test_a_setting_that_names_a_file_is_one_line_naming_it(monkeypatch, tmp_path, variable, make):
    file = tmp_path / "not-a-folder"
    file.write_text("x")
    monkeypatch.setenv(variable, str(file))
    with pytest.raises(paths.UnusableState) as raised:
        make()
    assert str(raised.value) == (f"{variable} is {file}, which is a file, not a folder: point {variable} at a folder "
                                 f"you can write, or unset it")


def test_a_read_only_outputs_folder_is_one_line_naming_it(monkeypatch, tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o555)
    if os.access(read_only, os.W_OK):
        pytest.skip("this user writes into read-only folders (root with CAP_DAC_OVERRIDE)")
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(read_only))
    with pytest.raises(paths.UnusableState, match=rf"^NOVA_LAB_OUTPUTS is {read_only}, which this user cannot write "
                                                   rf"to: point NOVA_LAB_OUTPUTS at a folder you can write"):
        paths.cache_dir("embeddings")
