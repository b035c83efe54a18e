"""Converse, Retrieve and the LLM judges without an account: Stubber checks each request
against the service model; a fake HTTP layer plays a throttling storm through botocore's retries."""

import json
import math
import threading

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from nova_lab.bedrock import runtime
from nova_lab.bedrock.judge import BedrockJudge
from nova_lab.core.records import RecordStore
from nova_lab.data.nova_format import SYSTEM_PROMPT
from nova_lab.judging import verdicts
from nova_lab.judging.judges import Item


def converse_response(text, tokens_in=12, tokens_out=8):
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": tokens_in, "outputTokens": tokens_out, "totalTokens": tokens_in + tokens_out},
            "metrics": {"latencyMs": 321}}


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_converse_sends_a_valid_request_and_reads_usage():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("converse", converse_response(" The API version is 2006-03-01. "), {
            "modelId": "amazon.nova-micro-v1:0", "system": [{"text": SYSTEM_PROMPT}],
            "messages": [{"role": "user", "content": [{"text": "What is the API version of Amazon S3?"}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.0}})
        reply = runtime.converse(client, "amazon.nova-micro-v1:0", "What is the API version of Amazon S3?", 64)
    assert (reply.text, reply.input_tokens, reply.output_tokens, reply.total_tokens) == (
        "The API version is 2006-03-01.", 12, 8, 20)
    assert reply.service_latency_ms == 321 and reply.wall_ms >= 0 and reply.stop_reason == "end_turn"


def test_retrieve_gives_passages_with_offline_doc_ids():
    client = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
    uri = "s3://bucket/nova-lab/smoke/corpus/botocore/s3/PutObject.txt"
    with Stubber(client) as stub:
        stub.add_response("retrieve", {"retrievalResults": [{
            "content": {"text": "PutObject adds an object", "type": "TEXT"},
            "location": {"type": "S3", "s3Location": {"uri": uri}}, "score": 0.71,
            "metadata": {"x-amz-bedrock-kb-source-uri": uri, "x-amz-bedrock-kb-chunk-id": "c-1"}}]},
            {"knowledgeBaseId": "KB12345678", "retrievalQuery": {"text": "q"},
             "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 3}}})
        [passage], _ = runtime.retrieve(client, "KB12345678", "q", 3)
    assert (passage.chunk_id, passage.doc_id, passage.score) == ("c-1", "s3/PutObject", 0.71)


class FakeBedrock:
    """The HTTP layer of bedrock-runtime: the first `throttled` calls get 429 ThrottlingException."""

    def __init__(self, throttled, always_fail=()):
        self.calls, self.throttled, self.always_fail = 0, throttled, set(always_fail)
        self.lock = threading.Lock()

    def __call__(self, request, **kwargs):
        with self.lock:  # four threads call at once
            self.calls += 1
            throttle = self.calls <= self.throttled
        question = json.loads(request.body)["messages"][0]["content"][0]["text"]
        if throttle or question in self.always_fail:
            return self._response(request, 429, {"message": "Too many requests"}, "ThrottlingException")
        return self._response(request, 200, converse_response(f"answer to {question}"))

    @staticmethod
    def _response(request, status, body, error=None):
        headers = {"Content-Type": "application/json", **({"x-amzn-ErrorType": f"{error}:"} if error else {})}
        raw = type("Raw", (), {"stream": lambda self, **k: iter([json.dumps(body).encode()])})()
        return AWSResponse(request.url, status, headers, raw)


def storm_client(fake, attempts=8):
    client = boto3.client("bedrock-runtime", region_name="us-east-1",
                          config=Config(retries={"mode": "adaptive", "total_max_attempts": attempts}))
    client.meta.events.register("before-send.bedrock-runtime.Converse", fake)
    return client


@pytest.fixture
def no_backoff(monkeypatch):
    """botocore's retry back-off and adaptive rate limiter wait in real time; the tests don't."""
    import botocore.endpoint
    import botocore.retries.bucket

    monkeypatch.setattr(botocore.endpoint.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)


def jobs_for(client, questions):
    def job(question):
        return runtime.Job(f"k-{question}", lambda: {"key": f"k-{question}", "question_id": question,
                                                    "answer": runtime.converse(client, "amazon.nova-micro-v1:0", question, 32).text})
    return [job(q) for q in questions]


def test_a_throttling_storm_loses_and_duplicates_nothing(tmp_path, no_backoff):
    questions = [f"q{i}" for i in range(12)]
    fake = FakeBedrock(throttled=7)  # fewer than the 8 attempts a request gets, spread over 4 threads
    store = RecordStore(tmp_path / "answers.jsonl")
    progress = runtime.run_jobs(jobs_for(storm_client(fake), questions), store, concurrency=4, desc="storm")
    keys = [json.loads(line)["key"] for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert sorted(keys) == sorted(f"k-{q}" for q in questions)  # each once: none lost, none twice
    assert progress == {"requests": 12, "made_now": 12, "failed": []}
    assert fake.calls == 12 + 7  # every throttled call was retried by botocore


def test_a_request_that_keeps_failing_is_reported_then_asked_again(tmp_path, no_backoff):
    store = RecordStore(tmp_path / "answers.jsonl")
    questions = ["q0", "q1", "q2"]
    first = runtime.run_jobs(jobs_for(storm_client(FakeBedrock(0, always_fail={"q1"}), attempts=3), questions),
                             store, concurrency=2, desc="first")
    assert first["failed"] == [{"key": "k-q1", "error": "ThrottlingException"}] and store.keys() == {"k-q0", "k-q2"}
    healthy = FakeBedrock(0)
    second = runtime.run_jobs(jobs_for(storm_client(healthy), questions), store, concurrency=2, desc="second")
    assert second["made_now"] == 1 and healthy.calls == 1  # only the failed one is asked again
    assert len(store.frame()) == 3


def test_bedrock_judge_scores_and_counts_unreadable_replies_as_nan():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    judge = BedrockJudge(client, "anthropic.claude-3-5-sonnet-20240620-v1:0", concurrency=1)
    item = Item("a", "What is the API version of Amazon S3?", "Amazon S3 uses API version 2006-03-01.",
                ("2006-03-01",), "2006-03-01")
    with Stubber(client) as stub:
        stub.add_response("converse", converse_response('{"score": 9, "rationale": "right version"}'))
        stub.add_response("converse", converse_response("I would give it a nine."))
        good, unreadable = judge.judge([item, item])
    assert (good.score, good.rationale) == (9.0, "right version")
    assert math.isnan(unreadable.score)


def test_a_judge_request_that_fails_is_not_stored_and_is_asked_again(tmp_path, capsys):
    from nova_lab.judging.verdicts import JUDGMENT_COLUMNS, judge_all

    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    judge = BedrockJudge(client, "anthropic.claude-3-5-sonnet-20240620-v1:0", concurrency=1)
    items = [Item(key, "What is the API version of Amazon S3?", "Amazon S3 uses API version 2006-03-01.",
                  ("2006-03-01",), answer) for key, answer in (("a", "2006-03-01"), ("b", "2011-01-01"))]
    store = RecordStore(tmp_path / "judgments.jsonl", JUDGMENT_COLUMNS)
    with Stubber(client) as stub:
        stub.add_response("converse", converse_response('{"score": 9, "rationale": "right version"}'))
        stub.add_client_error("converse", "ThrottlingException", http_status_code=429)  # after botocore's retries
        assert judge_all([judge], items, store) == 1
        assert "1 verdict request(s) failed" in capsys.readouterr().out
        stub.add_response("converse", converse_response('{"score": 2, "rationale": "wrong version"}'))
        assert judge_all([judge], items, store) == 1  # only b is asked again
    assert store.frame().set_index("answer_key")["score"].to_dict() == {"a": 9.0, "b": 2.0}


def test_a_judge_that_cannot_be_called_stops_with_the_service_reason(tmp_path):
    from nova_lab.judging.verdicts import JUDGMENT_COLUMNS, judge_all

    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    judge = BedrockJudge(client, "us.anthropic.claude-9", concurrency=1)
    item = Item("a", "What is the API version of Amazon S3?", "Amazon S3 uses API version 2006-03-01.", ("2006-03-01",), "x")
    with Stubber(client) as stub, pytest.raises(ClientError, match="ValidationException"):
        stub.add_client_error("converse", "ValidationException", "The provided model identifier is invalid.", 400)
        judge_all([judge], [item], RecordStore(tmp_path / "judgments.jsonl", JUDGMENT_COLUMNS))


def test_a_recorded_run_replays_without_the_service(tmp_path):
    from nova_lab.bedrock.recording import Recording, ReplayMissing

    path = tmp_path / "bedrock.jsonl"
    live = boto3.client("bedrock-runtime", region_name="us-east-1")
    Recording(path, "record").attach(live)
    with Stubber(live) as stub:  # stands for the service while recording
        stub.add_response("converse", converse_response("The API version is 2006-03-01."))
        recorded = runtime.converse(live, "amazon.nova-micro-v1:0", "What is the API version of Amazon S3?", 64)
    offline = Recording(path, "replay").attach(boto3.client("bedrock-runtime", region_name="us-east-1"))
    replayed = runtime.converse(offline, "amazon.nova-micro-v1:0", "What is the API version of Amazon S3?", 64)
    assert (replayed.text, replayed.total_tokens) == (recorded.text, recorded.total_tokens)
    with pytest.raises(ReplayMissing, match="Converse"):
        runtime.converse(offline, "amazon.nova-micro-v1:0", "another question", 64)


def test_a_request_made_twice_replays_its_responses_in_recorded_order(tmp_path):
    from nova_lab.bedrock.recording import Recording, ReplayMissing

    path = tmp_path / "bedrock.jsonl"
    live = Recording(path, "record").attach(boto3.client("bedrock-runtime", region_name="us-east-1"))
    with Stubber(live) as stub:
        for text in ("first", "second"):
            stub.add_response("converse", converse_response(text))
        recorded = [runtime.converse(live, "amazon.nova-micro-v1:0", "Same question?", 64) for _ in range(2)]
    offline = Recording(path, "replay").attach(boto3.client("bedrock-runtime", region_name="us-east-1"))
    replayed = [runtime.converse(offline, "amazon.nova-micro-v1:0", "Same question?", 64) for _ in range(2)]
    assert [r.text for r in replayed] == ["first", "second"]
    assert [r.wall_ms for r in replayed] == [r.wall_ms for r in recorded]  # the recorded latencies, not the replay's
    with pytest.raises(ReplayMissing, match="no further response"):  # never a made-up answer, nor an endless poll
        runtime.converse(offline, "amazon.nova-micro-v1:0", "Same question?", 64)


def test_each_step_replays_its_own_responses_and_a_replaced_error_is_skipped(tmp_path):
    from nova_lab.bedrock.recording import Recording

    path = tmp_path / "bedrock.jsonl"
    for scope, texts in (("04_inference/micro", ["micro"]), ("04_inference/lite", [None, "lite"])):
        live = Recording(path, "record", scope).attach(boto3.client("bedrock-runtime", region_name="us-east-1"))
        with Stubber(live) as stub:
            for text in texts:  # None: throttled after botocore's retries, asked again by a resumed run
                if text is None:
                    stub.add_client_error("converse", "ThrottlingException", http_status_code=429)
                else:
                    stub.add_response("converse", converse_response(text))
            for _ in texts:
                try:
                    runtime.converse(live, "amazon.nova-micro-v1:0", "Same question?", 64)
                except ClientError:
                    pass
    for scope, text in (("04_inference/micro", "micro"), ("04_inference/lite", "lite")):
        offline = Recording(path, "replay", scope).attach(boto3.client("bedrock-runtime", region_name="us-east-1"))
        assert runtime.converse(offline, "amazon.nova-micro-v1:0", "Same question?", 64).text == text



EXPIRED = ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "The security token included in the "
                                 "request is expired"}}, "Converse")
DAILY = ClientError({"Error": {"Code": "ThrottlingException",
                               "Message": "Too many tokens per day, please wait before trying again."}}, "Converse")
STOPS = [(EXPIRED, runtime.CredentialsExpired, "refresh credentials and run again: what is stored is kept"),
         (DAILY, runtime.DailyQuotaSpent, "Too many tokens per day.*request an increase in Service Quotas.*tomorrow")]


class Gate:
    """A stand-in for Converse: the first call fails with `error` once a second is in flight; every other one
    waits for the gate, which opens shortly after: those that never started were not sent."""

    def __init__(self, error):
        self.error, self.started, self.lock = error, [], threading.Lock()
        self.opened, self.in_flight = threading.Event(), threading.Event()
        threading.Timer(0.3, self.opened.set).start()

    def __call__(self, question):
        with self.lock:
            self.started.append(question)
            first = len(self.started) == 1
        if first:
            self.in_flight.wait(5)
            raise self.error
        self.in_flight.set()
        self.opened.wait(5)
        return {"key": f"k-{question}", "question_id": question, "answer": "a"}


@pytest.mark.parametrize("error, stop, message", STOPS)
def test_expired_credentials_or_a_spent_daily_quota_stop_the_answer_loop_at_once(tmp_path, error, stop, message):
    gate = Gate(error)
    jobs = [runtime.Job(f"k-q{i}", lambda q=f"q{i}": gate(q)) for i in range(12)]
    store = RecordStore(tmp_path / "answers.jsonl")
    with pytest.raises(stop, match=message):
        runtime.run_jobs(jobs, store, concurrency=2, desc="converse")
    assert len(gate.started) <= 3  # the failed one and those already in flight: none of the others was sent
    assert len(store.keys()) == len(gate.started) - 1 >= 1  # those in flight landed and were kept


@pytest.mark.parametrize("error, stop, message", STOPS)
def test_expired_credentials_or_a_spent_daily_quota_stop_the_judges_at_once(monkeypatch, tmp_path, error, stop, message):
    gate = Gate(error)

    def converse(client, model_id, prompt, *args, **kwargs):
        gate(prompt)
        return runtime.Reply('{"score": 5, "rationale": "half"}', 1, 1, 2, "end_turn", 1, 1.0)

    monkeypatch.setattr("nova_lab.bedrock.judge.converse", converse)
    judge = BedrockJudge(None, "us.anthropic.claude-sonnet-4-6", concurrency=2)
    items = [Item(f"a{i}", f"Question {i}?", "Reference.", (), "answer") for i in range(12)]
    store = RecordStore(tmp_path / "verdicts.jsonl")
    with pytest.raises(stop, match=message):
        verdicts.judge_all([judge], items, store)
    assert len(gate.started) <= 3
    assert len(store.keys()) == len(gate.started) - 1 >= 1  # the verdicts in flight were kept


def test_a_daily_token_quota_throttle_is_not_retried_by_the_study_clients(no_backoff):
    """botocore's adaptive mode would ask again for minutes; the day's quota refills tomorrow, not in seconds."""
    from nova_lab.bedrock.resources import Clients
    from nova_lab.core.params import BedrockSettings

    settings = BedrockSettings(bucket="nova-b", role_arn="arn:aws:iam::123456789012:role/R", max_usd=1)
    client = Clients.create(settings).bedrock_runtime
    calls = []

    def daily(request, **kwargs):
        calls.append(request)
        return FakeBedrock._response(request, 429, {"message": "Too many tokens per day, please wait before trying "
                                                               "again."}, "ThrottlingException")

    client.meta.events.register("before-send.bedrock-runtime.Converse", daily)
    with pytest.raises(ClientError, match="Too many tokens per day") as error:
        runtime.converse(client, "amazon.nova-micro-v1:0", "q", 8)
    assert len(calls) == 1 and not runtime.transient(error.value)
    assert runtime.transient(ClientError({"Error": {"Code": "ThrottlingException", "Message": "Too many requests"}},
                                         "Converse"))  # a per-minute throttle is still asked again
