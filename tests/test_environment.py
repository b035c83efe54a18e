"""environment.yml (conda) and pyproject.toml (pip) must describe the same environment."""

import re
from importlib.metadata import requires

import yaml

from nova_lab.core import paths


def pyproject_pins() -> dict[str, str]:
    """The installed project's requirements (its pyproject.toml), extras included."""
    requirements = [r.split(";")[0].strip() for r in requires("nova-lab")]
    pins = dict(r.split("==") for r in requirements if "==" in r)
    assert len(pins) == len(requirements), "every dependency is pinned with =="
    return pins


def environment_pins() -> dict[str, str]:
    pins = {}
    for entry in yaml.safe_load((paths.PROJ_ROOT / "environment.yml").read_text())["dependencies"]:
        if isinstance(entry, dict):
            pins.update(line.split("==") for line in entry["pip"] if "==" in line)
        elif (match := re.fullmatch(r"([\w.-]+)=([\w.]+)", entry)) and match[1] != "python":
            pins[match[1]] = match[2]
    return pins


def test_same_packages_same_versions():
    assert environment_pins() == pyproject_pins()


def test_torch_is_the_pinned_cpu_release():
    assert pyproject_pins()["torch"] == "2.13.0"
