"""Where everything lives. No other module builds project paths by hand.

`NOVA_LAB_OUTPUTS` moves the whole outputs tree (tests point it at a temporary folder so
they never touch a user's study), `NOVA_LAB_MODEL_CACHE` the converted model weights. Both are
read here and nowhere else (`_setting`), so the CLI and the notebooks' kernels, which run in
notebooks/, agree on one absolute folder: a relative one is taken from the project folder.
"""

from __future__ import annotations

import os
import re
import sysconfig
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = PROJ_ROOT / "notebooks"
PARAMS = PROJ_ROOT / "params"

OUTPUTS, MODEL_CACHE = "NOVA_LAB_OUTPUTS", "NOVA_LAB_MODEL_CACHE"
DEFAULTS = {OUTPUTS: "outputs", MODEL_CACHE: "~/.cache/nova-lab/models"}  # a relative default is the project's


class UnusableState(RuntimeError):
    """A folder or file the study keeps its state in that cannot be used as it is (an outputs folder that is a
    file or read-only, a record of the run that is damaged). The message names it and the way out, so it is
    shown as one line, not a traceback."""


def _setting(variable: str) -> Path:
    """The absolute folder `variable` names: `~` expanded, empty taken as unset, and a relative path taken from
    the project folder, not the current one: the CLI runs where the user stands but its kernels run in
    notebooks/, and one run must not be split between two trees."""
    value = os.environ.get(variable, "").strip() or DEFAULTS[variable]
    return (PROJ_ROOT / Path(value).expanduser()).resolve()


def _writable(variable: str) -> Path:
    """`_setting(variable)`, made if missing; a file or a folder this user cannot write is one line naming the
    variable and the path, not the traceback of the first write deep inside a step."""
    root = _setting(variable)
    way_out = f"point {variable} at a folder you can write, or unset it"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UnusableState(f"{variable} is {root}, which is a file, not a folder: {way_out}") from None
    except PermissionError:
        raise UnusableState(f"{variable} is {root}, which this user cannot create: {way_out}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise UnusableState(f"{variable} is {root}, which this user cannot write to: {way_out}")
    return root


def outputs_root() -> Path:
    return _setting(OUTPUTS)


def cache_dir(name: str) -> Path:
    """Content-addressed caches shared by every run (embeddings, corpus extraction)."""
    path = _writable(OUTPUTS) / "cache" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir(run_name: str, *parts: str) -> Path:
    """Artefacts of one run (`smoke` when a notebook runs as it is or for `make quick`, `study` for `make study`)."""
    path = _writable(OUTPUTS).joinpath(run_name, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_cache_dir() -> Path:
    """Converted model weights, shared by every run and every checkout (`NOVA_LAB_MODEL_CACHE`)."""
    return _writable(MODEL_CACHE)


def _shown_folders() -> list[tuple[Path, str]]:
    """This machine's folders that what others read may mention, each with the name it is shown by there; the most
    specific first, so a virtual environment inside the project shows as `site-packages`, not `./.venv/...`."""
    shown = {outputs_root(): "outputs", PROJ_ROOT: ".", Path(sysconfig.get_path("stdlib")): "stdlib",
             Path(sysconfig.get_path("purelib")): "site-packages", Path(sysconfig.get_path("platlib")): "site-packages",
             Path.home(): "~"}
    both = {form: name for folder, name in shown.items() for form in (folder, folder.resolve())
            if form != Path(form.anchor)}  # a home of `/` would make every path relative to it
    return sorted(both.items(), key=lambda item: len(item[0].parts), reverse=True)


def shareable(path: Path) -> str:
    """A path as it may appear in what others read (an executed notebook, a manifest): relative to the
    project, the outputs tree or the Python installation, never naming this machine's folders."""
    path = Path(path).resolve()
    for root, shown in _shown_folders():
        if path.is_relative_to(root):
            return str(Path(shown) / path.relative_to(root))
    return path.name


def shareable_text(text: str) -> str:
    """`text` (a warning, a message) with every folder of `_shown_folders` in it named as `shareable` names it."""
    for root, shown in _shown_folders():
        text = re.sub(re.escape(str(root)) + r"(?![\w.-])", shown, text)  # not /work/main in /work/main2
    return text
