"""Loaded by every Python started with this folder on PYTHONPATH (the notebook kernels of
tests/test_bedrock_notebooks.py): with NOVA_LAB_FAKE_AWS=<state file>, boto3 talks to the fake Bedrock."""

import os

if os.environ.get("NOVA_LAB_FAKE_AWS"):
    from pathlib import Path

    import fake_bedrock

    fake_bedrock.install(Path(os.environ["NOVA_LAB_FAKE_AWS"]))
