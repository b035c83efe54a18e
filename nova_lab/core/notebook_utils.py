"""Record figures in an executed notebook and read them back (tests assert on them).

The same idea as microsoft/recommenders' `store_metadata`/`read_notebook`: a value is
displayed under a MIME type of our own, so it survives in the .ipynb without a library.

Importing it (every notebook does, in its imports cell) also makes the warnings a step raises name folders as
`paths.shareable` does: a warning is printed with the file it comes from (a library in the virtual environment)
and often names a file of the run, and the executed notebooks and 06's HTML are meant to be shared. And it gives a
figure a text form that says what it shows (its titles), which the HTML page uses as the image's alt text, where
IPython's would be "<Figure size 1200x400 with 6 Axes>".
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

from nova_lab.core import paths

MIME_TYPE = "application/x-nova-lab+json"
_FORMAT_WARNING = warnings.formatwarning  # Python's own, which the shareable one wraps


def _shareable_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                       line: str | None = None) -> str:
    return paths.shareable_text(_FORMAT_WARNING(message, category, filename, lineno, line))


warnings.formatwarning = _shareable_warning


def describe(figure: Any) -> str:
    """A figure in words for a reader who cannot see it: its title and its panels' titles and axes."""
    panels = [", ".join(part for part in (axes.get_title(), axes.get_xlabel() and f"x: {axes.get_xlabel()}",
                                          axes.get_ylabel() and f"y: {axes.get_ylabel()}") if part)
              for axes in figure.axes]
    title = figure._suptitle.get_text() if figure._suptitle else ""
    return "Figure: " + "; ".join(part for part in (title, *dict.fromkeys(panels)) if part)


def _describe_figures() -> None:
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/plain"].for_type(Figure, lambda fig, p, cycle: p.text(describe(fig)))


_describe_figures()


def record(name: str, value: Any) -> None:
    """Store `value` (JSON-serialisable) in the running notebook's output under `name`."""
    from IPython.display import display

    display({MIME_TYPE: {"name": name, "value": _json_safe(json.loads(json.dumps(value, default=str)))}}, raw=True)


def _json_safe(value: Any) -> Any:
    """NaN and infinity (a judge's unparsed score, an undefined interval) become null, as JSON wants."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def read_notebook(path: str | Path) -> dict[str, Any]:
    """All values a notebook recorded, by name (the last one wins)."""
    notebook = json.loads(Path(path).read_text())
    values: dict[str, Any] = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get(MIME_TYPE)
            if data:
                values[data["name"]] = data["value"]
    return values
