"""Faults that reach a notebook's kernel (issue 27): Ctrl-C, a kernel killed from outside, and `papermill -f` with
keys the study refuses. Each starts a real kernel on a notebook of a few lines (no model is loaded)."""

import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from papermill.exceptions import PapermillExecutionError

from nova_lab import cli, runner
from nova_lab.core import paths

pytestmark = pytest.mark.slow  # starts kernels


def notebook(tmp_path, source: str):
    node = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    node.cells = [nbformat.v4.new_code_cell(source)]
    path = tmp_path / "cell.ipynb"
    nbformat.write(node, path)
    return path


def test_ctrl_c_in_the_middle_of_a_cell_prints_one_line_and_nothing_from_the_kernel(tmp_path):
    """A terminal's Ctrl-C goes to the CLI's process group; the kernel, asked to shut down mid-cell, used to print a
    17-line traceback of its own before the CLI's one line."""
    started = tmp_path / "started"
    sleeper = notebook(tmp_path, f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(120)")
    script = ("import signal, sys\nfrom pathlib import Path\nfrom nova_lab import cli, runner\n"
              "signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started where Ctrl-C is ignored\n"
              f"runner.run_study = lambda *a: runner.execute(Path({str(sleeper)!r}), Path({str(tmp_path / 'out.ipynb')!r}), {{}})\n"
              "sys.exit(cli.main(['study']))\n")
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130
    assert "Traceback" not in err and err.endswith("\nnova-lab: interrupted; run the same command to resume\n")


def test_a_kernel_killed_from_outside_is_one_line_naming_the_notebook(tmp_path, monkeypatch, capfd):
    killed = notebook(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # as an out-of-memory kill")
    executed = tmp_path / "02_kb_build.ipynb"
    monkeypatch.setattr(runner, "run_study", lambda *a: runner.execute(killed, executed, {}))
    assert cli.main(["study"]) == 1
    err = capfd.readouterr().err
    assert "Traceback" not in err and err.splitlines()[-1] == (
        f"nova-lab: 02_kb_build's kernel died ({executed} holds what it did): it was killed from outside, most likely "
        f"by the system for want of memory; free some memory and run the same command to resume")


def test_papermill_f_with_extends_or_a_misspelt_key_stops_in_the_notebooks_first_cell(tmp_path):
    """What `nova-lab run` refuses, the notebook refuses too when papermill injects it (a params file via -f)."""
    from papermill.execute import execute_notebook

    for given, refused in (({"extends": "study.yaml", "n_test": 10}, "`extends` = 'study.yaml': papermill does not "
                                                                     "follow it; run `nova-lab run 01 --params <file>`"),
                           ({"n_tset": 10}, "unknown key `n_tset` = 10; did you mean n_test")):
        with pytest.raises(PapermillExecutionError) as stopped:
            execute_notebook(paths.NOTEBOOKS / "01_data_prep.ipynb", tmp_path / "01.ipynb", parameters=given,
                             cwd=str(paths.NOTEBOOKS), progress_bar=False)
        assert stopped.value.ename == "ParamsError" and refused in stopped.value.evalue
        assert stopped.value.exec_count == 4  # imports, parameters, injected, then the first cell: nothing made
