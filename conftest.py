"""Every test and notebook run writes to a temporary outputs tree, never to the user's outputs/."""

import os
import tempfile

import pytest

os.environ["NOVA_LAB_OUTPUTS"] = tempfile.mkdtemp(prefix="nova-lab-tests-")


def pytest_collection_modifyitems(items):
    """The notebooks under nbval run models too: `pytest -m "not slow"` is the fast inner loop."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
