import pytest

from nova_lab.cli import main
from nova_lab.core import paths
from nova_lab.core.params import DataPrepParams, KnowledgeBaseParams, ParamsError, for_step, load_params

STUDY = paths.PARAMS / "study.yaml"


def write(tmp_path, text, name="bad.yaml"):
    path = tmp_path / name
    path.write_text(f"extends: {STUDY}\n" + text)
    return path


def test_study_files_are_valid():
    for name in ("study", "micro", "lite", "smoke"):
        params = load_params(paths.PARAMS / f"{name}.yaml")
        assert params.backend == "local"
    assert load_params(paths.PARAMS / "lite.yaml").model == "lite"
    assert len(load_params(STUDY).services) >= 35


def test_later_files_override_earlier_ones():
    params = load_params(paths.PARAMS / "micro.yaml", paths.PARAMS / "smoke.yaml")
    assert params.model == "micro" and params.run_name == "smoke" and params.n_train == 40


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    with pytest.raises(ParamsError) as error:
        load_params(write(tmp_path, "n_trian: 5\n"))
    assert "unknown key `n_trian` = 5" in str(error.value)
    assert "did you mean n_train" in str(error.value)


def test_wrong_type_names_key_value_and_expectation(tmp_path):
    with pytest.raises(ParamsError, match=r"`n_test` = 'many': Input should be a valid integer"):
        load_params(write(tmp_path, "n_test: many\n"))


def test_out_of_range_names_the_bound(tmp_path):
    with pytest.raises(ParamsError, match=r"`n_train` = 30000: Input should be less than or equal to 20000"):
        load_params(write(tmp_path, "n_train: 30000\n"))


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ParamsError, match="3 problem"):
        load_params(write(tmp_path, "n_train: 1\nchunk_tokens: 9999\nbackend: cloud\n"))


def test_unknown_service_gets_close_matches(tmp_path):
    with pytest.raises(ParamsError, match=r"unknown botocore service\(s\) \['dynamodbb'\] \(did you mean dynamodb"):
        load_params(write(tmp_path, "services: [sqs, dynamodbb]\n"))


def test_overlap_must_stay_below_half_the_chunk(tmp_path):
    with pytest.raises(ParamsError, match="chunk_overlap = 100 must be less than half of chunk_tokens = 200"):
        load_params(write(tmp_path, "chunk_overlap: 100\n"))


def test_bad_yaml_and_missing_file_are_clear(tmp_path):
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(write(tmp_path, "services: [sqs\n"))
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_notebook_namespace_is_validated():
    namespace = {"run_name": "x", "backend": "local", "chunk_tokens": 10, "chunk_overlap": 0,
                 "embedding_batch_size": 8, "rrf_k": 60, "unrelated": object()}
    with pytest.raises(ParamsError, match="`chunk_tokens` = 10: Input should be greater than or equal to 32"):
        KnowledgeBaseParams.from_namespace(namespace)


def test_each_step_gets_only_its_parameters():
    params = load_params(STUDY)
    assert set(for_step(params, "01_data_prep")) == set(DataPrepParams.model_fields)
    assert "chunk_tokens" not in for_step(params, "01_data_prep")


def test_cli_prints_the_problem_without_a_traceback(tmp_path, capsys):
    assert main(["study", "--overlay", str(write(tmp_path, "epochs: 3\n"))]) == 2
    err = capsys.readouterr().err
    assert "unknown key `epochs`" in err and "Traceback" not in err


def test_a_key_given_twice_in_one_file_is_refused_naming_file_key_and_lines(tmp_path):
    path = write(tmp_path, "n_test: 10\nseed: 1\nn_test: 20\n")
    with pytest.raises(ParamsError) as error:
        load_params(path)
    message = str(error.value)
    assert str(path) in message and "`n_test` is given twice (lines 2 and 4)" in message and "\n" not in message


def test_a_key_twice_inside_a_section_is_refused_too(tmp_path):
    with pytest.raises(ParamsError, match="`bucket` is given twice"):
        load_params(write(tmp_path, "bedrock:\n  bucket: a-bucket\n  bucket: b-bucket\n"))


def test_a_binary_params_file_is_one_line(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01binary")
    assert main(["plan", "--params", str(path)]) == 2


def test_binary_params_file_message(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"run_name: x\n\xff\xfe")
    with pytest.raises(ParamsError, match="not a text file"):
        load_params(path)


def test_latency_sample_above_n_test_is_capped_with_a_warning(tmp_path):
    from nova_lab.core.params import ParamsWarning

    with pytest.warns(ParamsWarning, match="latency_sample = 500 is larger than n_test = 30"):
        params = load_params(write(tmp_path, "n_test: 30\nlatency_sample: 500\n"))
    assert params.latency_sample == 30


@pytest.mark.parametrize("step", ["01_data_prep", "02_kb_build", "03_fine_tune", "04_inference", "05_judging",
                                  "06_analysis"])
def test_a_notebook_run_as_it_is_runs_the_smoke_settings(step):
    """A notebook opened in JupyterLab runs `make quick`'s settings into outputs/smoke/, so it shares that run's
    caches (nbval, after the smoke study in make test, re-runs the notebooks warm). 06 defaults to micro alone:
    run as it is, only micro's 03-05 have run."""
    import nbformat

    notebook = nbformat.read(paths.NOTEBOOKS / f"{step}.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    defaults: dict = {}
    exec(cell.source, {}, defaults)
    defaults.pop("__annotations__", None)
    files = [paths.PARAMS / ("micro.yaml" if step[:2] in ("03", "04", "05") else "study.yaml"), paths.PARAMS / "smoke.yaml"]
    expected = for_step(load_params(*files), step)
    if step == "06_analysis":
        expected["models"] = ["micro"]
    assert defaults == expected


def test_nova_2_lite_runs_on_bedrock_only_and_the_model_names_come_from_one_table(tmp_path):
    from typing import get_args

    from nova_lab.core.params import FineTuneParams
    from nova_lab.core.study_models import STUDY_MODELS, ModelName

    assert get_args(ModelName) == tuple(STUDY_MODELS)
    with pytest.raises(ParamsError, match="model nova2_lite has no offline stand-in: run it with backend: bedrock"):
        load_params(paths.PARAMS / "nova2_lite.yaml")
    with pytest.raises(ParamsError, match="model nova2_lite has no offline stand-in"):
        load_params(write(tmp_path, "models: [micro, nova2_lite]\n"))
    on_bedrock = load_params(paths.PARAMS / "nova2_lite.yaml", paths.PARAMS / "bedrock.yaml")
    assert FineTuneParams(**for_step(on_bedrock, "03_fine_tune")).model == "nova2_lite"
    with pytest.raises(ParamsError, match="`model` = 'nova3': Input should be 'micro', 'lite' or 'nova2_lite'"):
        load_params(write(tmp_path, "model: nova3\n"))


def test_the_allowed_names_are_the_registered_ones_and_a_misspelt_one_gets_a_suggestion(tmp_path):
    from nova_lab.judging.judges import JUDGES

    with pytest.raises(ParamsError) as error:
        load_params(write(tmp_path, "judges: [semantic, factcheck]\nqa_generator: templates\n"))
    assert "`judges.1` = 'factcheck': Input should be" in str(error.value) and "did you mean fact_check?" in str(error.value)
    assert "did you mean template?" in str(error.value)
    assert load_params(write(tmp_path, f"judges: {sorted(JUDGES)}\n")).judges == sorted(JUDGES)


def test_finetune_repeats_are_offline_only():
    params = load_params(paths.PARAMS / "micro.yaml", paths.PARAMS / "smoke.yaml")
    assert params.finetune_repeats == 2  # every smoke run takes the repeat path
    with pytest.raises(ValueError, match="finetune_repeats = 2 is offline only"):
        params.model_validate(params.model_dump() | {"backend": "bedrock", "bedrock": {
            "bucket": "my-nova-lab-bucket", "role_arn": "arn:aws:iam::123456789012:role/R", "max_usd": 1}})


def test_nova_2_lite_with_fewer_than_200_training_records_is_refused_before_anything_runs(tmp_path):
    """Step 01 writes one training record per training pair: n_train is the training file's length."""
    on_bedrock = [paths.PARAMS / "nova2_lite.yaml", paths.PARAMS / "bedrock.yaml"]
    for n_train in (40, 200):
        (tmp_path / f"{n_train}.yaml").write_text(f"n_train: {n_train}\n")
    with pytest.raises(ParamsError, match=r"n_train = 40 training records, but nova2_lite needs at least 200 .*"
                                          r"set n_train to at least 200, or leave out nova2_lite"):
        load_params(*on_bedrock, tmp_path / "40.yaml")
    assert load_params(*on_bedrock, tmp_path / "200.yaml").n_train == 200
    assert load_params(paths.PARAMS / "micro.yaml", paths.PARAMS / "smoke.yaml").n_train == 40  # Nova 1 takes 8 or more


def test_wait_limits_are_per_kind_with_defaults_and_checked(tmp_path):
    params = load_params(paths.PARAMS / "lite.yaml", paths.PARAMS / "bedrock.yaml")
    assert params.bedrock.wait_hours.customization_job == 48 and params.bedrock.wait_hours.knowledge_base == 0.5
    with pytest.raises(ParamsError, match=r"`bedrock.wait_hours.ingestion` = 0: Input should be greater than 0"):
        load_params(write(tmp_path, "bedrock:\n  wait_hours:\n    ingestion: 0\n"), paths.PARAMS / "bedrock.yaml")
    with pytest.raises(ParamsError, match=r"unknown key `bedrock.wait_hours.ingest` = 1; did you mean ingestion"):
        load_params(write(tmp_path, "bedrock:\n  wait_hours:\n    ingest: 1\n"), paths.PARAMS / "bedrock.yaml")


def test_a_model_listed_twice_is_refused(tmp_path):
    """06 would report the model's rows twice."""
    with pytest.raises(ParamsError, match=r"`models` = \['lite', 'lite'\]: lite is listed more than once"):
        load_params(write(tmp_path, "models: [lite, lite]\n"))


def test_an_empty_params_file_name_is_refused_not_read_as_the_current_folder():
    with pytest.raises(ParamsError, match="an empty params file name"):
        load_params(STUDY, "")


def test_a_seed_is_bounded_as_numpy_bounds_it_and_each_repeat_seed_too(tmp_path):
    with pytest.raises(ParamsError, match=r"`seed` = 99999999999999999999999999: Input should be less than or equal to "
                                          r"4294967295"):
        load_params(write(tmp_path, "seed: 99999999999999999999999999\n"))
    assert load_params(write(tmp_path, "seed: 4294967295\n")).seed == 2**32 - 1
    with pytest.raises(ParamsError, match=r"seed = 4294967295 with finetune_repeats = 2 trains the last adapter with "
                                          r"seed 4294967296"):
        load_params(write(tmp_path, "seed: 4294967295\nfinetune_repeats: 2\n"))


def test_extends_given_a_list_is_one_line(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("extends: [study.yaml, smoke.yaml]\n")
    with pytest.raises(ParamsError) as error:
        load_params(path)
    message = str(error.value)
    assert message == f"{path}: `extends` = ['study.yaml', 'smoke.yaml']: one params file (relative to this one), not a list"


def test_a_bad_study_tag_is_explained_in_words_not_a_regex(tmp_path):
    with pytest.raises(ParamsError) as error:
        load_params(paths.PARAMS / "bedrock.yaml", write(tmp_path, "bedrock:\n  study_tag: Nova_Lab\n"))
    message = str(error.value)
    assert "`bedrock.study_tag` = 'Nova_Lab': lower-case letters, digits and single hyphens, at most 24 characters, " \
           "starting with a letter" in message and "pattern" not in message


def test_the_version_is_the_installed_packages(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"nova-lab {version('nova-lab')}\n"


def test_a_notebook_refuses_what_papermill_injected_and_the_params_refuse():
    """`papermill -f` injects every key of the file, misspelt or `extends`, in a cell headed `# Parameters`;
    the notebook's first cell reads that cell back from IPython's input history and refuses them."""
    defaults = {"run_name": "x", "backend": "local", "chunk_tokens": 200, "chunk_overlap": 0,
                "embedding_batch_size": 8, "rrf_k": 60}
    cells = ["import pandas as pd", "run_name: str = 'x'  # the parameters cell"]
    injected = "# Parameters\nrun_name = \"x\"\nseed = 13\nchunk_tokns = 100\n"
    with pytest.raises(ParamsError, match=r"unknown key `chunk_tokns` = 100; did you mean chunk_tokens"):
        KnowledgeBaseParams.from_namespace({**defaults, "In": [*cells, injected], "chunk_tokns": 100, "seed": 13})
    with pytest.raises(ParamsError, match=r"`extends` = 'study.yaml': papermill does not follow it; run "
                                          r"`nova-lab run 02 --params <file>`, which does"):
        KnowledgeBaseParams.from_namespace({**defaults, "In": [*cells, "# Parameters\nextends = \"study.yaml\"\n"],
                                            "extends": "study.yaml"})
    assert KnowledgeBaseParams.from_namespace({**defaults, "In": [*cells, "# Parameters\nseed = 13\n"], "seed": 13})
