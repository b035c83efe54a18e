"""bfloat16 or float32 on this CPU: measured once per machine, not guessed.

bfloat16 autocast is a bet on the CPU's kernels. Where the CPU has fast bfloat16 matrix kernels
(AMX tiles, AVX512-BF16) a Linear layer runs several times faster in bfloat16 (3.2x on this
project's AMD EPYC with AVX512-BF16); on a CPU without them it runs about 3x slower (29.5 vs 99.5
GFLOP/s on one AVX-512 CPU without either). `bf16: auto` times one Linear layer of the stand-ins'
shape, forward and backward, both ways, and takes bfloat16 only when it is at least FASTER_BY as
fast. The best of several interleaved trials is kept (load from another process only ever adds
time); a result near the threshold is measured twice more before it counts. The choice is cached
in the model cache per CPU kind, thread count, torch version and this rule, so a machine decides
once and every step and run on it decides alike; delete `bf16_choice.json` there to measure again.
"""

from __future__ import annotations

import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from nova_lab.core import paths
from nova_lab.core.caching import read_json_object, write_json
from nova_lab.core.vocabulary import Bf16Setting

KERNEL_FLAGS = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")  # what decides which kernels PyTorch runs
SHAPE = (256, 576, 1536)  # rows x in x out: a batch of tokens through one MLP projection of the stand-ins
TRIALS, CALLS = 7, 5
FASTER_BY = 1.2  # bfloat16 must beat float32 by this factor: rounding is not worth a tie
UNCLEAR = (1 / 1.5, 1.5)  # a ratio in here is measured again before it decides
RULE = f"rule 1: {SHAPE} x{CALLS}, best of {TRIALS}, bf16 at {FASTER_BY}x"  # in the cache key: a new rule measures anew


@dataclass(frozen=True)
class Choice:
    bf16: bool
    reason: str


def cpu_kind() -> str:
    """The CPU's model name and the kernel flags PyTorch chooses by: what the model figures depend on."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        name = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        flags = set(next(line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")))
    except (OSError, StopIteration):
        name = platform.processor() or platform.machine()
        flags = set(subprocess.run(["sysctl", "-n", "machdep.cpu.features"], capture_output=True, text=True,
                                   check=False).stdout.lower().split()) if platform.system() == "Darwin" else set()
    return f"{name}; {' '.join(f for f in KERNEL_FLAGS if f in flags) or 'no AVX2'}"


def measure(trials: int = TRIALS) -> dict[str, float]:
    """Best-of-trials milliseconds for CALLS forward+backward passes of one Linear layer, float32 and bfloat16
    autocast, the two interleaved so that a burst of load hits both alike (about a second in all)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    rows, inputs, outputs = SHAPE
    layer = torch.nn.Linear(inputs, outputs)
    x = torch.randn(rows, inputs, generator=generator, requires_grad=True)
    best = {"float32_ms": float("inf"), "bf16_ms": float("inf")}
    for _ in range(trials):
        for name, bf16 in (("float32_ms", False), ("bf16_ms", True)):
            started = time.perf_counter()
            for _ in range(CALLS):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    y = layer(x)
                y.float().sum().backward()
            best[name] = min(best[name], (time.perf_counter() - started) * 1000)
    return {name: round(ms, 2) for name, ms in best.items()}


def _cache_key() -> str:
    import torch

    return f"{cpu_kind()}; {torch.get_num_threads()} threads; torch {torch.__version__}; {RULE}"


def _cache_file() -> Path:
    return paths.model_cache_dir() / "bf16_choice.json"


def _read(file: Path) -> dict[str, dict]:
    """The cached choices; an unreadable file (torn by a kill, or not ours) counts as none."""
    return read_json_object(file) or {}


def _write(file: Path, key: str, entry: dict) -> None:
    """Add one machine's entry, written whole or not at all (`caching.write_json`): a failed write is not fatal."""
    try:
        write_json(file, _read(file) | {key: entry})
    except OSError as exc:
        print(f"nova-lab: could not cache the bf16 choice in {file} ({exc.strerror}); it is measured again next time")


def measured() -> Choice:
    """The machine's choice, measured on first use and then read from the model cache."""
    key, file = _cache_key(), _cache_file()
    entry = _read(file).get(key)
    if entry is None:
        timings = measure()
        if UNCLEAR[0] < timings["float32_ms"] / timings["bf16_ms"] < UNCLEAR[1]:
            again = measure(2 * TRIALS)
            timings = {name: min(ms, again[name]) for name, ms in timings.items()}
        entry = asdict(_decide(timings, key, date.today().isoformat()))
        _write(file, key, entry)
    return Choice(**entry)


def _decide(timings: dict[str, float], where: str, when: str) -> Choice:
    ratio = timings["float32_ms"] / timings["bf16_ms"]
    verdict = (f"bfloat16 (auto): it ran {ratio:.1f}x as fast as float32" if ratio >= FASTER_BY else
               f"float32 (auto): bfloat16 ran at {ratio:.2f}x float32's speed, short of the {FASTER_BY}x it must reach")
    return Choice(ratio >= FASTER_BY, f"{verdict} on a Linear layer's forward and backward "
                                      f"({timings['float32_ms']} vs {timings['bf16_ms']} ms), measured {when} on {where} "
                                      f"(cached in the model cache's bf16_choice.json)")


def choose(setting: Bf16Setting) -> Choice:
    """The precision a step runs in: forced by `true`/`false`, measured on this CPU for `auto`."""
    if setting == "auto":
        return measured()
    return Choice(bool(setting), f"{'bfloat16' if setting else 'float32'}: forced by bf16: {str(setting).lower()}")


def cast_frozen_weights(model: Any) -> Any:
    """Store every frozen Linear weight in bfloat16 once, for a model that runs under bfloat16 autocast.

    Autocast keeps its cast of a weight only for weights that train; a frozen one (the base model under
    peft, every weight at inference) is cast again on every forward pass. For Gemma 3 270M (Lite's stand-in
    until 2026-12-06) that re-read its 168M-parameter output layer per generated token, which made bfloat16 slower than float32 one request
    at a time. Autocast casts these same weights to bfloat16 anyway, so the numbers are identical (tested)
    while the work is done once. The output layer gets its own copy when it is tied to the input embedding,
    which stays float32 as autocast leaves it. Trainable weights (the LoRA adapter in training) stay float32.
    """
    import torch

    embedding = model.get_input_embeddings().weight
    for module in model.modules():
        if not isinstance(module, torch.nn.Linear) or module.weight.requires_grad:
            continue
        weight = module.weight.detach().clone() if module.weight is embedding else module.weight.detach()
        module.weight = torch.nn.Parameter(weight.to(torch.bfloat16), requires_grad=False)
        if module.bias is not None and not module.bias.requires_grad:
            module.bias = torch.nn.Parameter(module.bias.detach().to(torch.bfloat16), requires_grad=False)
    return model
