"""Run the study's notebooks with papermill; every params file is validated before the first one starts.

Steps 01-02 run once with `params/study.yaml`; steps 03-05 run per model with
`params/<model>.yaml`; step 06 runs once over the models and is rendered to HTML (code
hidden). An overlay (such as `params/smoke.yaml`) is applied last to all of them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import jinja2
import nbformat
import papermill
from filelock import FileLock, Timeout
from nbclient.exceptions import DeadKernelError
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError
from papermill.translators import translate_parameters

from nova_lab.core import artefacts, notebook_utils, paths
from nova_lab.core.caching import write_json
from nova_lab.core.params import ParamsError, StudyParams, for_step, load_params, parse
from nova_lab.core.study_steps import ANALYSIS, MODEL_STEPS, SHARED_STEPS, STEPS

if TYPE_CHECKING:  # the Bedrock modules are imported only by a Bedrock run
    from nova_lab.costing.plan import Plan



class RunLocked(RuntimeError):
    """Another study is writing to the same run folder; two would do the same work twice."""


class NotebookStopped(RuntimeError):
    """A notebook that did not run to its end, with what `nova-lab` needs to say so in one line: which notebook
    (its executed copy holds the traceback) and the error by name (`DeadKernelError`: its kernel died)."""

    def __init__(self, notebook: Path, ename: str, evalue: str) -> None:
        super().__init__(f"{notebook.stem}: {ename}: {evalue}")
        self.notebook, self.ename, self.evalue = notebook, ename, evalue


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """A write on an open file that fails (a full disk) names no file: say it was `path`."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """One study at a time per run folder; a second one stops at once and says who holds the folder.
    The operating system's lock on `.lock` (filelock: flock, or the Windows equivalent; never a marker file, which
    a killed holder would leave behind) is released when its holder ends, however it ends; who holds it is written
    beside it, in `.lock.holder`."""
    holder = folder / ".lock.holder"
    lock = FileLock(folder / ".lock", fallback_to_soft=False)
    try:
        lock.acquire(timeout=1)  # a second: on Windows the lock file is removed and made again at each release
    except Timeout:
        try:
            who = holder.read_text(encoding="utf-8").strip()
        except OSError:
            who = ""
        raise RunLocked(f"{folder} is in use by another study ({who or 'holder unknown'}): "
                        f"wait for it to finish, or stop it and run again (the run resumes)") from None
    try:
        holder.write_text(f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}",
                          encoding="utf-8")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def run_notebook(step: str, params: StudyParams, executed_dir: Path) -> float:
    """Execute one notebook into `executed_dir`; returns its wall time in seconds."""
    output = executed_dir / f"{step}.ipynb"
    print(f"nova-lab: running {step} -> {output}", flush=True)
    started = time.perf_counter()
    execute(STEPS[step].notebook, output, for_step(params, step))
    return round(time.perf_counter() - started, 1)


def execute(notebook: Path, output: Path, parameters: dict[str, Any]) -> None:
    """papermill's run of one notebook, stopped or not, leaving an executed copy fit to share.
    The kernel is killed, not asked to shut down, when the run ends: asked in the middle of a cell (Ctrl-C), it
    prints a traceback of its own to the terminal. It lives in a session of its own, so Ctrl-C reaches only us."""
    try:
        with _naming(output):  # papermill saving the executed notebook on a full disk
            papermill.execute_notebook(notebook, output, parameters=parameters, cwd=str(paths.NOTEBOOKS),
                                       progress_bar=True, shutdown_kernel="immediate")
    except PapermillExecutionError as exc:
        raise NotebookStopped(output, exc.ename, exc.evalue) from None
    except DeadKernelError as exc:  # killed from outside: an out-of-memory kill leaves no error of its own
        raise NotebookStopped(output, "DeadKernelError", str(exc)) from None
    finally:
        if output.exists():
            make_shareable(output)


def make_shareable(notebook: Path) -> None:
    """What papermill recorded, as others may read it: where it read and wrote the notebook relative to the project
    (or the outputs tree), not this machine's folders; and the injected parameters without the AWS account's bucket
    and role, redacted as the run manifest redacts them."""
    from nova_lab.analysis.run_manifest import redact

    node = nbformat.read(notebook, as_version=4)
    recorded = node.metadata.get("papermill", {})
    for name in ("input_path", "output_path"):
        if recorded.get(name):
            recorded[name] = paths.shareable(Path(recorded[name]))
    recorded["parameters"], redacted = redact(recorded.get("parameters", {}))
    for cell in node.cells if redacted else []:
        if "injected-parameters" in cell.metadata.get("tags", []):
            kernel = node.metadata.kernelspec
            cell.source = translate_parameters(kernel.name, kernel.language, recorded["parameters"])
    with _naming(notebook):
        nbformat.write(node, notebook)


# JupyterLab's HTML template without what it fetches from the network (require.js, MathJax, Mermaid and the
# widget renderer from CDNs): the rendered analysis holds no widget, formula or diagram, and must open offline.
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
 alt="{{ output.data.get('text/plain', 'a figure') | escape_html }}">
</div>
{%- endblock data_png %}
"""


def render_html(notebook: Path) -> Path:
    """The executed notebook as HTML for readers: figures, tables and prose; no code, no recorded values."""
    node = nbformat.read(notebook, as_version=4)
    for cell in node.cells:
        cell["outputs"] = [o for o in cell.get("outputs", []) if notebook_utils.MIME_TYPE not in o.get("data", {})]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            extra_loaders=[jinja2.DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
                            template_file="offline.html.j2")
    heading = next((c.source.splitlines()[0] for c in node.cells if c.cell_type == "markdown" and c.source), "")
    body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": heading.lstrip("# ") or notebook.stem}})
    html = notebook.with_suffix(".html")
    with _naming(html):
        html.write_text(body, encoding="utf-8")
    return html




def step_named(name: str) -> str:
    """A step by its number ("02") or its notebook's name ("02_kb_build")."""
    found = [step.name for step in STEPS.values() if name in (step.name, step.number) or step.number == name.zfill(2)]
    if not found:
        raise ParamsError(f"no step {name!r}: the steps are {', '.join(STEPS)} (or their numbers 01-06)")
    return found[0]


def run_step(name: str, params_files: list[str | Path]) -> Path:
    """One notebook with the study's settings, as `nova-lab study` would run it: the params files are read
    as the study reads them (`extends:` followed, an unknown key refused), unlike `papermill -f`, which
    warns and runs the notebook on its own defaults. Returns the executed notebook."""
    step = step_named(name)
    params = load_params(*params_files)
    if step in MODEL_STEPS and params.model is None:
        raise ParamsError(f"{step} runs per model: give a model's params, e.g. --params params/micro.yaml")
    executed_dir = paths.run_dir(params.run_name, params.model) if step in MODEL_STEPS else paths.run_dir(params.run_name)
    with run_lock(paths.run_dir(params.run_name)):
        run_notebook(step, params, executed_dir)
        if step == ANALYSIS.name:
            render_html(executed_dir / f"{step}.ipynb")
    return executed_dir / f"{step}.ipynb"


def run_study(models: tuple[str, ...] | None = None, overlay: str | Path | None = None) -> dict[str, float]:
    """The whole study; executed notebooks, parameters and wall times go to outputs/<run_name>/.
    `models` chooses the model sizes; without it, the params' `models:` (an overlay's included) does."""
    extra = [] if overlay is None else [overlay]  # "" (an unset shell variable) is refused, not read as none
    shared = load_params(paths.PARAMS / "study.yaml", *extra)
    if models:  # validated as the params' `models:` is (each model once)
        shared = parse(StudyParams, shared.model_dump() | {"models": list(models)}, source="--models")
    files = {m: [paths.PARAMS / f"{m}.yaml", *extra] for m in shared.models}
    per_model = {m: load_params(*files[m]) for m in shared.models}
    mixed = {m: p.model for m, p in per_model.items() if p.model != m}
    if mixed:  # an overlay's `model:` would run one model's steps into another's folder, then 06 would miss it
        raise ParamsError("; ".join(f"{m}'s steps would run model = {other!r} (set by {' + '.join(map(str, files[m]))})"
                                    for m, other in mixed.items()) + ": an overlay applies to every model; choose "
                                                                     "the models with `models:` or --models, not `model:`")
    mismatched = [m for m, p in per_model.items() if p.run_name != shared.run_name]
    if mismatched:
        raise ParamsError(f"params for {mismatched} write to another run_name than {shared.run_name!r}")
    if shared.backend == "bedrock" and shared.bedrock.recording != "replay":  # a replay costs nothing
        from nova_lab.costing import plan

        planned = plan.build(shared, shared.models)
        plan.check_budget(planned, shared.bedrock.max_usd)  # before any request
        _check_credentials()  # before step 01's local work, not after it
        bedrock_preflight(shared, shared.models, planned)
    folder = paths.run_dir(shared.run_name)
    with run_lock(folder):
        return _run_steps(shared, per_model, folder)


def _check_credentials() -> None:
    import boto3

    if boto3.Session().get_credentials() is None:
        raise ParamsError("backend: bedrock, but boto3 finds no AWS credentials: set AWS_PROFILE (or "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or replay a recording (bedrock.recording: replay)")


def bedrock_preflight(params: StudyParams, models: list[str], planned: Plan) -> None:
    """Models ACTIVE and offered in the region, bucket, role and quotas: checked before anything is billed.
    `planned` is the run's plan, built once for the budget and the day quotas alike."""
    from nova_lab.bedrock import preflight

    clients = preflight.PreflightClients.create(params.bedrock.region)
    preflight.require_ready(preflight.run(clients, params, models, planned))


def _write_json(path: Path, value: Any) -> None:
    """Written whole or not at all (06 reads the wall times; a kill must not leave half a file)."""
    with _naming(path):
        write_json(path, value)


def _run_steps(shared: StudyParams, per_model: dict[str, StudyParams], folder: Path) -> dict[str, float]:
    _write_json(artefacts.path(artefacts.PARAMS, shared.run_name),
                {"shared": shared.model_dump(), **{m: p.model_dump() for m, p in per_model.items()}})
    timings: dict[str, float] = {}

    def step(name: str, label: str, params: StudyParams, executed_dir: Path) -> None:
        timings[label] = run_notebook(name, params, executed_dir)
        _write_json(artefacts.path(artefacts.TIMINGS, shared.run_name), timings)  # 06 reads it

    for name in SHARED_STEPS:
        step(name, name, shared, folder)
    for model, params in per_model.items():
        for name in MODEL_STEPS:
            step(name, f"{model}/{name}", params, paths.run_dir(shared.run_name, model))
    step(ANALYSIS.name, ANALYSIS.name, shared, folder)
    started = time.perf_counter()
    render_html(folder / f"{ANALYSIS.name}.ipynb")
    timings["render_html"] = round(time.perf_counter() - started, 1)
    _write_json(artefacts.path(artefacts.TIMINGS, shared.run_name), timings)
    return timings
