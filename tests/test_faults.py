"""Faults a user meets around a study run: a second run on the same folder, an overlay's models, no
credentials for Bedrock, and nothing private or machine-specific in what is shared."""

import json
from pathlib import Path

import nbformat
import pytest

from nova_lab import runner
from nova_lab.analysis import run_manifest
from nova_lab.core import paths
from nova_lab.core.params import ParamsError


@pytest.fixture
def outputs(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path


@pytest.fixture
def steps_ran(monkeypatch):
    """The study's steps, not run: which models they would have run for."""
    ran = []
    monkeypatch.setattr(runner, "_run_steps", lambda shared, per_model, folder: ran.append(list(per_model)) or {})
    return ran


def test_a_second_study_on_the_same_run_folder_stops_and_says_who_holds_it(outputs):
    folder = paths.run_dir("smoke")
    with runner.run_lock(folder):
        with pytest.raises(runner.RunLocked, match=rf"{folder} is in use by another study \(pid \d+ on .*, started "):
            with runner.run_lock(folder):
                pass
    with runner.run_lock(folder):  # released when its holder is done
        pass


def test_models_in_an_overlay_choose_the_models(outputs, steps_ran):
    overlay = outputs / "micro-only.yaml"
    overlay.write_text(f"extends: {paths.PARAMS / 'smoke.yaml'}\nmodels: [micro]\n")
    runner.run_study(overlay=overlay)
    runner.run_study(("lite",), overlay=overlay)  # --models, when given, has the last word
    assert steps_ran == [["micro"], ["lite"]]


def test_a_bedrock_study_without_credentials_stops_before_any_work(outputs, steps_ran, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    overlay = outputs / "bedrock.yaml"
    overlay.write_text(f"extends: {paths.PARAMS / 'smoke.yaml'}\nbackend: bedrock\nfinetune_repeats: 1\nbedrock:\n  bucket: my-bucket\n"
                       "  role_arn: arn:aws:iam::123456789012:role/NovaLabBedrock\n  study_tag: unit\n  max_usd: 50\n")
    with pytest.raises(ParamsError, match="no AWS credentials"):
        runner.run_study(overlay=overlay)
    assert steps_ran == [] and not (paths.outputs_root() / "smoke" / "data").exists()


def test_the_run_manifest_publishes_no_account_bucket_or_role(outputs):
    params = {"shared": {"seed": 13, "bedrock": {"bucket": "acme-private-bucket", "region": "us-east-1",
                                                 "role_arn": "arn:aws:iam::123456789012:role/NovaLabBedrock",
                                                 "judge_models": ["us.amazon.nova-pro-v1:0"]}}}
    (paths.run_dir("r") / "params.json").write_text(json.dumps(params))
    manifest = run_manifest.collect("r", ["micro"])
    shown = json.dumps(manifest)
    assert "123456789012" not in shown and "acme-private-bucket" not in shown and "arn:aws" not in shown
    assert manifest["redacted_settings"] == ["params.shared.bedrock.bucket", "params.shared.bedrock.role_arn"]
    assert manifest["params"]["shared"]["bedrock"]["judge_models"] == ["us.amazon.nova-pro-v1:0"]  # the rest stays


def test_a_bedrock_run_manifest_says_its_judges_are_not_the_studys(outputs):
    from nova_lab.core import bedrock_models

    params = {"shared": {"backend": "bedrock", "bedrock": {"judge_models": bedrock_models.JUDGE_PRESETS["current"]}}}
    (paths.run_dir("r") / "params.json").write_text(json.dumps(params))
    manifest = run_manifest.collect("r", ["micro"])
    assert manifest["judge_models"] == bedrock_models.JUDGE_PRESETS["current"] and "differ from the study's" in manifest["judges_note"]
    params["shared"]["bedrock"]["judge_models"] = bedrock_models.JUDGE_PRESETS["study"]
    (paths.run_dir("r") / "params.json").write_text(json.dumps(params))
    assert "judges_note" not in run_manifest.collect("r", ["micro"])


def test_an_executed_notebook_records_paths_relative_to_the_project(outputs):
    notebook = paths.run_dir("r") / "06_analysis.ipynb"
    node = nbformat.v4.new_notebook(metadata={"papermill": {
        "input_path": str(paths.NOTEBOOKS / "06_analysis.ipynb"), "output_path": str(notebook)}})
    nbformat.write(node, notebook)
    runner.make_shareable(notebook)
    recorded = nbformat.read(notebook, as_version=4).metadata["papermill"]
    assert recorded["input_path"] == "notebooks/06_analysis.ipynb"
    assert recorded["output_path"] == "outputs/r/06_analysis.ipynb"


@pytest.mark.slow  # starts a kernel
def test_one_notebook_runs_with_the_study_settings_extends_followed_unknown_keys_refused(outputs):
    from nova_lab.core.notebook_utils import read_notebook

    mine = outputs / "mine.yaml"
    mine.write_text(f"extends: {paths.PARAMS / 'smoke.yaml'}\nrun_name: one-step\nn_test: 10\n")
    executed = runner.run_step("1", [mine])
    assert executed == paths.run_dir("one-step") / "01_data_prep.ipynb"
    counts = read_notebook(executed)["qa_counts"]
    answerable = [r for r in counts if r["split"] == "test" and r["stratum"] != "unanswerable"]
    assert sum(r["questions"] for r in answerable) == 10  # this file's n_test, not the notebook's
    mine.write_text(f"extends: {paths.PARAMS / 'smoke.yaml'}\nrun_name: one-step\nrag_topk: 3\n")
    with pytest.raises(ParamsError, match="rag_topk"):
        runner.run_step("04", [mine])
    with pytest.raises(ParamsError, match="runs per model"):
        runner.run_step("04", [paths.PARAMS / "study.yaml"])


def test_a_full_disk_is_one_line_that_names_the_file_and_the_store_resumes(outputs, monkeypatch, capsys):
    import resource

    from nova_lab import cli
    from nova_lab.core.records import RecordStore

    store = RecordStore(paths.run_dir("r") / "answers.jsonl")
    store.append([{"key": "a", "answer": "kept"}])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (store.path.stat().st_size + 40, hard))  # a disk that fills up
    try:
        with pytest.raises(OSError) as full:
            store.append([{"key": "b", "answer": "x" * 200}])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    store.append([{"key": "b", "answer": "made again once there is space"}])
    assert store.keys() == {"a", "b"}

    monkeypatch.setattr(runner, "run_study", lambda *a: (_ for _ in ()).throw(full.value))
    assert cli.main(["study"]) == 1
    assert capsys.readouterr().err == (f"nova-lab: no space left while writing {store.path}: free some space (or point "
                                       f"NOVA_LAB_OUTPUTS elsewhere) and run the same command to resume\n")


def test_ctrl_c_and_a_notebook_fault_are_one_line(monkeypatch, capsys):
    from nova_lab import cli

    monkeypatch.setattr(runner, "run_study", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert cli.main(["study"]) == 130
    assert capsys.readouterr().err == "nova-lab: interrupted; run the same command to resume\n"
    stopped = runner.NotebookStopped(Path("/o/smoke/02_kb_build.ipynb"), "OSError",
                                    "[Errno 28] No space left on device: '/o/smoke/kb/chunks.parquet'")
    monkeypatch.setattr(runner, "run_study", lambda *a: (_ for _ in ()).throw(stopped))
    assert cli.main(["study"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nova-lab: no space left while writing /o/smoke/kb/chunks.parquet") and "traceback" not in err


def test_a_step_not_run_is_one_line_and_the_same_exit_from_the_cli_or_a_notebook(monkeypatch, capsys):
    from nova_lab import cli
    from nova_lab.core.study_steps import StepNotRun

    message = "outputs/r/kb/manifest.json is missing: run notebooks/02_kb_build.ipynb with run_name='r' first"
    monkeypatch.setattr(runner, "run_study", lambda *a: (_ for _ in ()).throw(StepNotRun(message)))
    assert cli.main(["study"]) == 1
    assert capsys.readouterr().err == f"nova-lab: {message}\n"
    stopped = runner.NotebookStopped(Path("/o/r/micro/04_inference.ipynb"), "StepNotRun", message)
    monkeypatch.setattr(runner, "run_study", lambda *a: (_ for _ in ()).throw(stopped))
    assert cli.main(["study"]) == 1
    assert capsys.readouterr().err == f"nova-lab: StepNotRun: {message}\n"


@pytest.mark.parametrize("name", ["06_analysis.ipynb", "06_analysis.html"])
def test_the_committed_analysis_names_no_folder_of_a_machine_and_no_account(name):
    import re

    text = (paths.PROJ_ROOT / "outputs" / "study" / name).read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w.])/(tmp|home|root|work|Users)/", text)
    assert not re.search(r"arn:aws[\w-]*:[\w-]+:[\w-]*:\d{12}:", text)


def test_a_model_in_an_overlay_is_refused_not_mixed_into_another_models_steps(outputs, steps_ran):
    """An overlay applies to every model's steps: its `model: micro` would run micro into lite's folder."""
    overlay = outputs / "micro.yaml"
    overlay.write_text(f"extends: {paths.PARAMS / 'smoke.yaml'}\nmodel: micro\n")
    with pytest.raises(ParamsError, match=r"lite's steps would run model = 'micro' \(set by .*micro.yaml\): an "
                                          r"overlay applies to every model; choose the models with `models:` or --models"):
        runner.run_study(("lite",), overlay=overlay)
    assert steps_ran == []


def test_models_given_twice_or_an_empty_overlay_name_start_nothing(outputs, steps_ran, capsys):
    from nova_lab import cli

    assert cli.main(["study", "--models", "micro", "micro", "--overlay", str(paths.PARAMS / "smoke.yaml")]) == 2
    assert "micro is listed more than once" in capsys.readouterr().err
    assert cli.main(["study", "--overlay", ""]) == 2  # an unset shell variable: not the hour-long study
    assert "an empty params file name" in capsys.readouterr().err
    assert steps_ran == []


def _papermill_stops(monkeypatch, error):
    """papermill writes the executed notebook as it would (parameters injected, paths absolute), then `error`."""
    import papermill
    from papermill.execute import execute_notebook

    def execute(notebook, output, parameters, **kwargs):
        execute_notebook(notebook, output, parameters=parameters, prepare_only=True, progress_bar=False)
        raise error

    monkeypatch.setattr(papermill, "execute_notebook", execute)


def test_a_kernel_killed_from_outside_is_one_line_naming_the_notebook(outputs, monkeypatch, capsys):
    from nbclient.exceptions import DeadKernelError

    from nova_lab import cli

    _papermill_stops(monkeypatch, DeadKernelError("Kernel died"))
    assert cli.main(["run", "01", "--params", str(paths.PARAMS / "smoke.yaml")]) == 1
    err = capsys.readouterr().err
    assert err == (f"nova-lab: 01_data_prep's kernel died ({paths.run_dir('smoke') / '01_data_prep.ipynb'} holds what "
                   f"it did): it was killed from outside, most likely by the system for want of memory; free some "
                   f"memory and run the same command to resume\n")


def test_a_full_disk_names_the_notebook_when_the_error_names_no_file(outputs, monkeypatch, capsys):
    """A write on an open file fails naming none: papermill saving the executed notebook, or a kernel's write."""
    from papermill.exceptions import PapermillExecutionError

    from nova_lab import cli

    executed = paths.run_dir("smoke") / "01_data_prep.ipynb"
    _papermill_stops(monkeypatch, OSError(28, "No space left on device"))
    assert cli.main(["run", "01", "--params", str(paths.PARAMS / "smoke.yaml")]) == 1
    assert capsys.readouterr().err.startswith(f"nova-lab: no space left while writing {executed}: free some space")
    for evalue in ("[Errno 28] No space left on device", "Error writing bytes to file. Detail: [errno 28] No space left"):
        _papermill_stops(monkeypatch, PapermillExecutionError(3, 4, "data_prep.write()", "OSError", evalue, []))
        assert cli.main(["run", "01", "--params", str(paths.PARAMS / "smoke.yaml")]) == 1
        assert capsys.readouterr().err.startswith(
            f"nova-lab: no space left while 01_data_prep was writing (see {executed}): free some space")


def test_a_failed_notebook_is_shareable_too_paths_relative_and_no_bucket_or_role(outputs, monkeypatch):
    from papermill.exceptions import PapermillExecutionError

    from nova_lab.core.params import load_params

    params = load_params(paths.PARAMS / "smoke.yaml", paths.PARAMS / "bedrock.yaml")
    _papermill_stops(monkeypatch, PapermillExecutionError(3, 4, "prepare_data(cfg)", "ValueError", "bad", []))
    with pytest.raises(runner.NotebookStopped, match="ValueError: bad"):
        runner.run_notebook("01_data_prep", params, paths.run_dir(params.run_name))
    text = (paths.run_dir(params.run_name) / "01_data_prep.ipynb").read_text()
    node = nbformat.reads(text, as_version=4)
    assert node.metadata.papermill["input_path"] == "notebooks/01_data_prep.ipynb"
    assert node.metadata.papermill["output_path"] == "outputs/bedrock/01_data_prep.ipynb"
    assert "my-nova-lab-bucket" not in text and "123456789012" not in text and str(outputs) not in text
    injected = next(c for c in node.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "'bucket': '<redacted>'" in injected.source.replace('"', "'") and "qa_model" in injected.source
    assert node.metadata.papermill["parameters"]["bedrock"]["role_arn"] == "<redacted>"
