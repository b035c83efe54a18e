"""The linter pyproject.toml configures, over the package, the tests, the benchmarks and the notebooks:
what it finds fails the fast lane, so a `noqa` comment means something."""

import subprocess
import sys

from nova_lab.core import paths


def test_ruff_finds_nothing():
    found = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "."],
                           cwd=paths.PROJ_ROOT, capture_output=True, text=True)
    assert found.returncode == 0, found.stdout + found.stderr
