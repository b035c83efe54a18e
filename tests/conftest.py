import contextlib
import hashlib
import json
import os
from pathlib import Path

import botocore.session
import pytest
from moto.bedrock import models as moto_bedrock

from fake_aws import strict_requests
from nova_lab.data.data_prep import load_corpus
from nova_lab.data.qa import GENERATORS, SplitSizes, build_qa_set

SERVICES = ["sqs", "sns", "s3", "kms", "lambda", "dynamodb"]
SIZES = SplitSizes(n_train=200, train_phrasings_per_fact=2, n_validation=20, n_test=60, n_probes=20)
CHECKED = {"here": 0, "kernels": 0}  # requests checked in this process and in the notebooks' kernels
SESSION_OUTPUTS = Path(os.environ["NOVA_LAB_OUTPUTS"])  # the root conftest's: never the user's outputs/


@pytest.fixture(scope="module")
def shared_outputs() -> Path:
    """For a module whose tests read what one module-scoped fixture made (the smoke study, a prepared data set):
    the session's folder, where the notebooks under nbval then find the smoke run warm. Everything in it is keyed
    by its inputs, so what a test reads is the same whether the folder was empty or not when it started."""
    return SESSION_OUTPUTS


@pytest.fixture(autouse=True)
def own_outputs(request, monkeypatch, tmp_path) -> Path:
    """Each test its own outputs folder: it reads only what it wrote, or what its module's shared fixture made
    (`shared_outputs`), whatever ran before it. The content-addressed caches (corpus, embeddings, retrieval ranks)
    are the session's, linked in, so no test pays for them twice: a test that damages a cache file sets its own
    folder (tmp_path / "outputs", which has no link), as tests/test_faults_state.py does."""
    if "shared_outputs" in request.fixturenames:
        return SESSION_OUTPUTS
    folder = tmp_path / "own-outputs"  # not tmp_path / "outputs": a test that sets that one gets it with no link
    folder.mkdir()
    (SESSION_OUTPUTS / "cache").mkdir(parents=True, exist_ok=True)
    (folder / "cache").symlink_to(SESSION_OUTPUTS / "cache")
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(folder))
    return folder


@contextlib.contextmanager
def stubbed_bedrock_run(settings, monkeypatch):
    """A Bedrock run named "unit" on `settings`: S3 from moto (the bucket made), Bedrock stubbed with Stubber (each
    request and response checked against the service model), no waiting between polls."""
    from botocore.stub import Stubber
    from moto import mock_aws

    from nova_lab.bedrock.resources import Clients
    from nova_lab.bedrock.run_context import BedrockRun

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        clients = Clients.create(settings)
        clients.s3.create_bucket(Bucket=settings.bucket)
        with Stubber(clients.bedrock) as stub:
            yield BedrockRun(clients, settings, "unit", lambda seconds: None), stub


@pytest.fixture(scope="session")
def corpus():
    return load_corpus(SERVICES)


@pytest.fixture(scope="session")
def qa(corpus):
    return build_qa_set(corpus.facts, GENERATORS["template"](), SIZES, seed=7)


class StrictRequests:
    """Every request of every botocore client made during a test (Stubber's, moto's, the package's own)
    is checked against what its service model allows and botocore does not check (strict_requests.py);
    one that breaks it fails the test, even where the code under test catches `Exception`."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.requests: list[tuple[str, str, dict]] = []  # (service, operation, parameters), for IAM checks

    def check(self, params: dict, model, **kwargs) -> None:
        CHECKED["here"] += 1
        self.requests.append((model.service_model.service_name, model.name, dict(params)))
        problems = strict_requests.check(model, params)
        if problems:
            self.violations.extend(problems)
            pytest.fail("a request the service would refuse:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def strict_aws_requests(request, monkeypatch):
    strict = StrictRequests()
    create_client = botocore.session.Session.create_client

    def strict_client(self, *args, **kwargs):
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build.*.*", strict.check)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", strict_client)
    yield strict
    # the fake Bedrock of the notebooks' kernels writes what it checked beside its state (fake_bedrock.py)
    tmp_path = request.node.funcargs.get("tmp_path")
    for report in tmp_path.rglob("*.strict.json") if tmp_path else []:
        kernels = json.loads(report.read_text())
        CHECKED["kernels"] += kernels["checked"]
        strict.violations.extend(kernels["violations"])
    if strict.violations and not getattr(request.node, "strict_failed_call", False):  # not failed already
        pytest.fail("requests the service would refuse:\n" + "\n".join(strict.violations), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def _bedrock_arn(arn: str, kind: str, base_model_arn: str, name: str) -> str:
    """`arn:...:<kind>/<base model id>/<12 characters>`, as Bedrock writes the ARN of a job or a custom model."""
    base = base_model_arn.rsplit("/", 1)[-1]
    return f"{arn.split(f':{kind}/')[0]}:{kind}/{base}/{hashlib.sha256(name.encode()).hexdigest()[:12]}"


@pytest.fixture(autouse=True)
def moto_bedrock_arns(monkeypatch):
    """moto names a customization job `model-customization-job/<job name>` and a custom model
    `custom-model/<model name>`; Bedrock's service model (and Bedrock) want `<kind>/<base model>/<id>`,
    so a request that carries one back (ListTagsForResource) would break the service model's pattern."""
    job_init, model_init = moto_bedrock.ModelCustomizationJob.__init__, moto_bedrock.CustomModel.__init__

    def job(self, *args, **kwargs):
        job_init(self, *args, **kwargs)
        self.job_arn = _bedrock_arn(self.job_arn, "model-customization-job", self.base_model_arn, self.job_name)
        self.output_model_arn = _bedrock_arn(self.output_model_arn, "custom-model", self.base_model_arn,
                                             self.output_model_name)

    def model(self, *args, **kwargs):
        model_init(self, *args, **kwargs)
        self.model_arn = _bedrock_arn(self.model_arn, "custom-model", self.base_model_arn, self.model_name)

    monkeypatch.setattr(moto_bedrock.ModelCustomizationJob, "__init__", job)
    monkeypatch.setattr(moto_bedrock.CustomModel, "__init__", model)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when == "call":
        item.strict_failed_call = report.failed


def pytest_terminal_summary(terminalreporter):
    if CHECKED["here"] or CHECKED["kernels"]:
        skipped = strict_requests.SKIPPED_PATTERNS
        typos = sum(reason.startswith("`/d`") for reason in skipped.values())
        terminalreporter.write_line(
            f"strict AWS requests: {CHECKED['here']} checked in the tests, {CHECKED['kernels']} in notebook kernels; "
            f"service-model patterns not applied here: {len(skipped) - typos} not compilable by Python's re, "
            f"{typos} with a typo")
