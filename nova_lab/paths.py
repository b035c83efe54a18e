"""Where everything lives. No other module builds project paths by hand.

`NOVA_LAB_OUTPUTS` moves the whole outputs tree (tests point it at a temporary folder so
they never touch a user's study).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = PROJ_ROOT / "notebooks"
PARAMS = PROJ_ROOT / "params"


def outputs_root() -> Path:
    return Path(os.environ.get("NOVA_LAB_OUTPUTS", PROJ_ROOT / "outputs")).resolve()


def cache_dir(name: str) -> Path:
    """Content-addressed caches shared by every run (embeddings, corpus extraction)."""
    path = outputs_root() / "cache" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir(run_name: str, *parts: str) -> Path:
    """Artefacts of one run (`smoke` when a notebook runs as it is or for `make quick`, `study` for `make study`)."""
    path = outputs_root() / run_name
    for part in parts:
        path = path / part
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_cache_dir() -> Path:
    """Converted model weights, shared by every run and every checkout (`NOVA_LAB_MODEL_CACHE`)."""
    default = Path.home() / ".cache" / "nova-lab" / "models"
    path = Path(os.environ.get("NOVA_LAB_MODEL_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def shareable(path: Path) -> str:
    """A path as it may appear in what others read (an executed notebook, a manifest): relative to the
    project or to the outputs tree, never naming this machine's folders."""
    path = Path(path).resolve()
    for root, shown in ((outputs_root(), "outputs"), (PROJ_ROOT, ".")):
        if path.is_relative_to(root):
            return str(Path(shown) / path.relative_to(root))
    return path.name
