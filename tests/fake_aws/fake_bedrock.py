"""A stand-in for S3, S3 Vectors, Bedrock and its knowledge bases, for recording a Bedrock study
with no account. It answers at botocore's `before-call` event, after the request was validated
against the service model, and every response it gives is validated against the model's output
shape (as `botocore.stub.Stubber` does), so what gets recorded is what the services could send.
Every request is also checked against what the service model allows beyond botocore's own checks
(strict_requests.py: enums, patterns, maximums); one the service would refuse stops the notebook, and
what was checked is written beside the state file (`<state>.strict.json`, read by tests/conftest.py).

Every request it answers is also logged, whole, to `<state>.requests.jsonl` (a streamed or bytes
body as its length), so a test can check each against the IAM policies the run prints (iam_rules.py).

Its answers are made up (a judge scores word overlap): it is for testing the wiring, never a result.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import pickle
import re
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from botocore.validate import ParamValidator
from bs4 import BeautifulSoup
from pypdf import PdfReader

try:
    from . import strict_requests
except ImportError:  # imported as a top-level module by sitecustomize.py in the notebooks' kernels
    import strict_requests

ACCOUNT, REGION, NOW = "123456789012", "us-east-1", "2026-11-25T00:00:00Z"
KB_ID, SOURCE_ID, JOB_ID = "KBFAKE0001", "DSFAKE0001", "INGFAKE001"


def _arn(kind: str, name: str, base_model: str | None = None) -> str:
    """An ARN as Bedrock writes it: `<kind>/[<base model id>/]<12 lowercase characters>`."""
    within = f"{base_model.rsplit('/', 1)[-1]}/" if base_model else ""
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:{kind}/{within}{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


# The evaluator models the user guide lists for custom metrics (model-as-judge, "Supported evaluator models"), by
# foundation model id (a cross-Region profile of one is taken too), and Claude Sonnet 4.6, which its built-in
# prompt pages name as an evaluator.
EVALUATORS = {"mistral.mistral-large-2402-v1:0", "mistral.mistral-large-2407-v1:0",
              "anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20241022-v2:0",
              "anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0",
              "anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0",
              "meta.llama3-1-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0", "amazon.nova-pro-v1:0",
              "amazon.nova-2-lite-v1:0", "amazon.nova-micro-v1:0", "amazon.nova-premier-v1:0",
              "anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-opus-4-5-20251101-v1:0",
              "anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-6"}

# Calls that change nothing the fake keeps, so its state is not written again after each of them: the thousands
# of Converse calls of a study are most of its requests.
UNCHANGING = {"Converse", "Retrieve", "GetObject", "HeadBucket", "ListObjectsV2", "ListVectorBuckets", "GetIndex",
              "ListIndexes", "ListKnowledgeBases", "GetKnowledgeBase", "GetDataSource", "ListDataSources",
              "ListIngestionJobs", "GetIngestionJob", "GetModelInvocationJob", "GetEvaluationJob", "ListModelCustomizationJobs",
              "GetModelCustomizationJob", "ListCustomModelDeployments", "GetCustomModelDeployment"}


class FakeBedrock:
    """Its state is kept in a file, so each notebook's kernel sees what the ones before it made."""

    def __init__(self, state: Path) -> None:
        self.state, self.lock = state, threading.Lock()
        self.objects: dict[tuple[str, str], bytes] = {}
        self.buckets: set[str] = set()
        self.made: dict[str, dict[str, Any]] = {}  # kind -> created resource's description
        if state.exists():
            self.objects, self.buckets, self.made = pickle.loads(state.read_bytes())
        self.strict_report = state.with_name(state.name + ".strict.json")
        self.request_log = requests_log(state)
        self.strict = json.loads(self.strict_report.read_text()) if self.strict_report.exists() else \
            {"checked": 0, "violations": []}

    # --- S3
    def HeadBucket(self, p):
        return {} if p["Bucket"] in self.buckets else ("404", "Not Found")

    def CreateBucket(self, p):
        self.buckets.add(p["Bucket"])
        return {"Location": f"/{p['Bucket']}"}

    def PutBucketTagging(self, p):
        return {}

    def PutObject(self, p):
        body = p["Body"]
        self.objects[(p["Bucket"], p["Key"])] = body if isinstance(body, bytes) else body.read()
        return {"ETag": '"fake"'}

    def DeleteObject(self, p):
        self.objects.pop((p["Bucket"], p["Key"]), None)
        return {}

    def ListObjectsV2(self, p):
        keys = sorted(k for b, k in self.objects if b == p["Bucket"] and k.startswith(p.get("Prefix", "")))
        return {"Contents": [{"Key": k, "Size": len(self.objects[(p["Bucket"], k)])} for k in keys],
                "KeyCount": len(keys), "IsTruncated": False}

    def GetObject(self, p):
        data = self.objects[(p["Bucket"], p["Key"])]
        return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentLength": len(data)}

    # --- S3 Vectors
    def ListVectorBuckets(self, p):
        return {"vectorBuckets": [self.made["vector_bucket"]] if "vector_bucket" in self.made else []}

    def CreateVectorBucket(self, p):
        self.made["vector_bucket"] = {"vectorBucketName": p["vectorBucketName"], "creationTime": NOW,
                                      "vectorBucketArn": f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/{p['vectorBucketName']}"}
        return {"vectorBucketArn": self.made["vector_bucket"]["vectorBucketArn"]}

    def GetIndex(self, p):
        index = self.made["index"]
        return {"index": {**index, "vectorBucketName": p["vectorBucketName"], "dataType": "float32", "dimension": 1024,
                          "distanceMetric": "cosine", "metadataConfiguration": {
                              "nonFilterableMetadataKeys": ["AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"]}}}

    def ListIndexes(self, p):
        return {"indexes": [self.made["index"]] if "index" in self.made else []}

    def CreateIndex(self, p):
        arn = f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/{p['vectorBucketName']}/index/{p['indexName']}"
        self.made["index"] = {"vectorBucketName": p["vectorBucketName"], "indexName": p["indexName"],
                              "indexArn": arn, "creationTime": NOW}
        return {"indexArn": arn}

    # --- Bedrock knowledge bases
    def ListKnowledgeBases(self, p):
        kb = self.made.get("kb")
        return {"knowledgeBaseSummaries": [{"knowledgeBaseId": KB_ID, "name": kb["name"], "status": "ACTIVE",
                                            "updatedAt": NOW}] if kb else []}

    def CreateKnowledgeBase(self, p):
        self.made["kb"] = p
        return {"knowledgeBase": _knowledge_base(p, "CREATING")}

    def GetKnowledgeBase(self, p):
        return {"knowledgeBase": _knowledge_base(self.made["kb"], "ACTIVE")}

    def GetDataSource(self, p):
        source = self.made["source"]
        return {"dataSource": {"knowledgeBaseId": KB_ID, "dataSourceId": SOURCE_ID, "name": source["name"],
                               "status": "AVAILABLE", "dataSourceConfiguration": source["dataSourceConfiguration"],
                               "vectorIngestionConfiguration": source["vectorIngestionConfiguration"],
                               "createdAt": NOW, "updatedAt": NOW}}

    def ListDataSources(self, p):
        source = self.made.get("source")
        return {"dataSourceSummaries": [{"knowledgeBaseId": KB_ID, "dataSourceId": SOURCE_ID, "name": source["name"],
                                         "status": "AVAILABLE", "updatedAt": NOW}] if source else []}

    def CreateDataSource(self, p):
        self.made["source"] = p
        return {"dataSource": {"knowledgeBaseId": KB_ID, "dataSourceId": SOURCE_ID, "name": p["name"],
                               "status": "AVAILABLE", "dataSourceConfiguration": p["dataSourceConfiguration"],
                               "createdAt": NOW, "updatedAt": NOW}}

    def _corpus(self) -> dict[str, str | None]:
        """Each object under the data source's prefix, as the knowledge base parses it: its text, or None for a
        file it does not ingest (an extension outside the user guide's list, or over 50 MB)."""
        prefixes = self.made["source"]["dataSourceConfiguration"]["s3Configuration"]["inclusionPrefixes"]
        return {key: _parsed(key, data) for (_, key), data in sorted(self.objects.items())
                if any(key.startswith(prefix) for prefix in prefixes)}

    def _ingestion(self, status: str) -> dict:
        corpus = self._corpus()
        failed = sum(text is None for text in corpus.values())
        statistics = {"numberOfDocumentsScanned": len(corpus), "numberOfNewDocumentsIndexed": len(corpus) - failed,
                      "numberOfDocumentsFailed": failed}
        return {"ingestionJob": {"knowledgeBaseId": KB_ID, "dataSourceId": SOURCE_ID, "ingestionJobId": JOB_ID,
                                 "status": status, "startedAt": NOW, "updatedAt": NOW, "statistics": statistics,
                                 **({"failureReasons": ["unsupported file format or size"]} if failed else {})}}

    def ListIngestionJobs(self, p):
        return {"ingestionJobSummaries": []}

    def StartIngestionJob(self, p):
        return self._ingestion("STARTING")

    def GetIngestionJob(self, p):
        return self._ingestion("COMPLETE")

    def Retrieve(self, p):
        query = _words(p["retrievalQuery"]["text"])
        corpus = [(key, text) for key, text in self._corpus().items() if text is not None]
        ranked = sorted(corpus, key=lambda item: (-len(query & _words(item[1])), item[0]))
        k = p["retrievalConfiguration"]["vectorSearchConfiguration"]["numberOfResults"]
        results = []
        for key, text in ranked[:k]:
            uri = f"s3://{self.made['source']['dataSourceConfiguration']['s3Configuration']['bucketArn'].split(':::')[1]}/{key}"
            results.append({"content": {"text": text[:600], "type": "TEXT"}, "score": 0.5,
                            "location": {"type": "S3", "s3Location": {"uri": uri}},
                            "metadata": {"x-amz-bedrock-kb-source-uri": uri, "x-amz-bedrock-kb-chunk-id": f"{key}#0"}})
        return {"retrievalResults": results}

    # --- Bedrock batch inference: the job runs at once; its output as the user guide shows it
    def CreateModelInvocationJob(self, p):
        """Each record through the fake Converse; one record in 40 (by its id) fails as the service reports it
        (`error` in place of `modelOutput`), and the job then ends PartiallyCompleted."""
        bucket, _, key = p["inputDataConfig"]["s3InputDataConfig"]["s3Uri"].removeprefix("s3://").partition("/")
        arn = _arn("model-invocation-job", p["jobName"])
        records = self.objects[(bucket, key)].decode().splitlines()
        if len(records) < 100:  # the quota "Minimum number of records per batch inference job" (user guide: 100)
            return ("ValidationException", f"The number of records {len(records)} is less than the minimum 100")
        lines, failed = [], 0
        for line in records:
            record = json.loads(line)
            if int(hashlib.sha256(record["recordId"].encode()).hexdigest(), 16) % 40 == 0:
                record["error"] = {"errorCode": 429, "errorMessage": "Too many requests, please wait before trying again."}
                failed += 1
            else:
                record["modelOutput"] = self.Converse({"modelId": p["modelId"], **record["modelInput"]})
            lines.append(json.dumps(record))
        out_bucket, _, out = p["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].removeprefix("s3://").partition("/")
        job_id = arn.rsplit("/", 1)[1]
        self.objects[(out_bucket, f"{out}{job_id}/{key.rsplit('/', 1)[1]}.out")] = ("\n".join(lines) + "\n").encode()
        self.objects[(out_bucket, f"{out}{job_id}/manifest.json.out")] = json.dumps(
            {"totalRecordCount": len(lines), "processedRecordCount": len(lines),
             "successRecordCount": len(lines) - failed, "errorRecordCount": failed}).encode()
        self.made.setdefault("invocation_jobs", {})[arn] = p | {"records": len(lines), "failed": failed}
        return {"jobArn": arn}

    def GetModelInvocationJob(self, p):
        job = self.made["invocation_jobs"][p["jobIdentifier"]]  # done at the first look: the wait loop's other
        done = "PartiallyCompleted" if job["failed"] else "Completed"  # states are tested with Stubber
        return {"jobArn": p["jobIdentifier"], "jobName": job["jobName"], "modelId": job["modelId"],
                "roleArn": job["roleArn"], "status": done, "submitTime": NOW,
                "inputDataConfig": job["inputDataConfig"], "outputDataConfig": job["outputDataConfig"],
                "modelInvocationType": job["modelInvocationType"], "totalRecordCount": job["records"],
                "errorRecordCount": job["failed"], "successRecordCount": job["records"] - job["failed"]}

    # --- Bedrock Evaluations: a model-as-judge job on answers made elsewhere, run at once
    def CreateEvaluationJob(self, p):
        """As the user guide describes the job: one modelIdentifier in the dataset, equal to the job's inference
        source; at most 1,000 prompts; the evaluator one it lists for custom metrics; the instructions end with the
        input variables and hold {{prediction}}. Each line is scored by the fake Converse on the filled
        instructions, snapped to the nearest value of the rating scale and written as a share of its top (as
        model-as-judge results are shown, 0 to 1), where the user guide says the output goes."""
        automated = p["evaluationConfig"]["automated"]
        [metric] = automated["customMetricConfig"]["customMetrics"]
        definition = metric["customMetricDefinition"]
        evaluator = automated["customMetricConfig"]["evaluatorModelConfig"]["bedrockEvaluatorModels"][0]["modelIdentifier"]
        [config] = automated["datasetMetricConfigs"]
        bucket, _, key = config["dataset"]["datasetLocation"]["s3Uri"].removeprefix("s3://").partition("/")
        lines = [json.loads(line) for line in self.objects[(bucket, key)].decode().splitlines() if line.strip()]
        source = p["inferenceConfig"]["models"][0]["precomputedInferenceSource"]["inferenceSourceIdentifier"]
        if evaluator.split(".", 1)[-1] not in EVALUATORS and evaluator not in EVALUATORS:
            return ("ValidationException", f"The evaluator model {evaluator} is not supported for custom metrics")
        if len(lines) > 1000:
            return ("ValidationException", f"The dataset has {len(lines)} prompts: the maximum is 1000")
        if {r["modelIdentifier"] for line in lines for r in line["modelResponses"]} != {source}:
            return ("ValidationException", "Each prompt must use the inferenceSourceIdentifier as its modelIdentifier")
        if "{{prediction}}" not in definition["instructions"] or not definition["instructions"].rstrip().endswith("}}"):
            return ("ValidationException", "The instructions must end with the input variables, {{prediction}} among them")
        if definition["name"] not in config["metricNames"]:
            return ("ValidationException", f"metricNames does not name the custom metric {definition['name']}")
        scale = sorted(s["value"]["floatValue"] for s in definition["ratingScale"])
        arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:evaluation-job/{hashlib.sha256(p['jobName'].encode()).hexdigest()[:12]}"
        scored = []
        for line in lines:
            filled = (definition["instructions"].replace("{{prompt}}", line["prompt"])
                      .replace("{{ground_truth}}", line.get("referenceResponse", ""))
                      .replace("{{prediction}}", line["modelResponses"][0]["response"]))
            said = self.Converse({"modelId": evaluator, "messages": [{"role": "user", "content": [{"text": filled}]}]})
            reply = re.search(r'"score": (\d+)', said["output"]["message"]["content"][0]["text"])
            result = min(scale, key=lambda v: abs(v - int(reply.group(1)))) / max(scale) if reply else None
            scored.append({"automatedEvaluationResult": {"scores": [{
                "metricName": definition["name"], "result": result,
                "evaluatorDetails": [{"modelIdentifier": evaluator, "explanation": "word overlap with the reference"}]}]},
                "inputRecord": line})
        out_bucket, _, out = p["outputDataConfig"]["s3Uri"].removeprefix("s3://").partition("/")
        job_id = arn.rsplit("/", 1)[1]
        self.objects[(out_bucket, f"{out}amazon-bedrock-evaluations-permission-check")] = b""
        self.objects[(out_bucket, f"{out}{p['jobName']}/{job_id}/models/{source}/taskTypes/{config['taskType']}/datasets/"
                                  f"{config['dataset']['name']}/{job_id}_output.jsonl")] = \
            "".join(json.dumps(line) + "\n" for line in scored).encode()
        self.made.setdefault("evaluation_jobs", {})[arn] = p
        return {"jobArn": arn}

    def GetEvaluationJob(self, p):
        job = self.made["evaluation_jobs"][p["jobIdentifier"]]
        return {"jobName": job["jobName"], "status": "Completed", "jobArn": p["jobIdentifier"], "roleArn": job["roleArn"],
                "jobType": "Automated", "applicationType": job["applicationType"],
                "evaluationConfig": job["evaluationConfig"], "inferenceConfig": job["inferenceConfig"],
                "outputDataConfig": job["outputDataConfig"], "creationTime": NOW}

    # --- Bedrock model customization and serving
    def ListModelCustomizationJobs(self, p):
        return {"modelCustomizationJobSummaries": []}

    def CreateModelCustomizationJob(self, p):
        output = p["outputDataConfig"]["s3Uri"].removeprefix("s3://")
        bucket, _, prefix = output.partition("/")
        self.objects[(bucket, f"{prefix}job/step_wise_training_metrics.csv")] = \
            b"step_number,epoch_number,training_loss\n1,0,2.5\n2,0,1.9\n3,1,1.2\n"
        self.objects[(bucket, f"{prefix}job/validation_metrics.csv")] = b"step_number,epoch_number,validation_loss\n3,1,1.4\n"
        self.made["job"] = p
        return {"jobArn": _arn("model-customization-job", p["jobName"], p["baseModelIdentifier"])}

    def GetModelCustomizationJob(self, p):
        job = self.made["job"]
        base = job["baseModelIdentifier"]
        return {"jobArn": _arn("model-customization-job", job["jobName"], base),
                "jobName": job["jobName"], "outputModelName": job["customModelName"], "status": "Completed",
                "outputModelArn": _arn("custom-model", job["customModelName"], base),
                "roleArn": job["roleArn"], "creationTime": NOW,
                "baseModelArn": base if base.startswith("arn:") else f"arn:aws:bedrock:{REGION}::foundation-model/{base}",
                "trainingDataConfig": job["trainingDataConfig"], "outputDataConfig": job["outputDataConfig"],
                "validationDataConfig": job["validationDataConfig"],
                "hyperParameters": job["hyperParameters"]}

    def ListCustomModelDeployments(self, p):
        return {"modelDeploymentSummaries": []}

    def CreateCustomModelDeployment(self, p):
        self.made["deployment"] = p
        return {"customModelDeploymentArn": _arn("custom-model-deployment", p["modelDeploymentName"])}

    def GetCustomModelDeployment(self, p):
        d = self.made["deployment"]
        return {"customModelDeploymentArn": p["customModelDeploymentIdentifier"], "modelDeploymentName": d["modelDeploymentName"],
                "modelArn": d["modelArn"], "createdAt": NOW, "status": "Active"}

    # --- Converse: an answer, or a verdict by word overlap with the reference
    def Converse(self, p):
        prompt = p["messages"][0]["content"][0]["text"]
        if '"key_facts"' in prompt:  # Q&A pairs from a document: a line of it, its longest word as the fact
            text = json.dumps({"pairs": _document_pairs(prompt)})
        elif '{"pairs"' in prompt:  # Q&A generation: four differently worded pairs holding the values
            values = re.search(r"written as given: (.*)\.\n", prompt).group(1)
            fact = re.search(r"Fact: (.*)", prompt).group(1)
            starts = ("What is", "Which value is", "Tell me, for an AWS developer,", "In the API reference, how is")
            text = json.dumps({"pairs": [{"question": f"{start} the {fact}?", "answer": f"The {fact} is {values}."}
                                         for start in starts]})
        elif "Reference answer:" in prompt:
            reference = re.search(r"Reference answer: (.*)", prompt).group(1)
            answer = re.search(r"Answer to score: (.*)", prompt).group(1)
            overlap = len(_words(reference) & _words(answer)) / max(1, len(_words(reference)))
            unreadable = answer == "(empty)" or ("llama" in p["modelId"] and len(reference) % 3 == 0)
            text = "I would rather not say." if unreadable else \
                f'{{"score": {round(10 * overlap)}, "rationale": "word overlap with the reference"}}'
        elif "[1] " in prompt:
            text = prompt.split("[1] ", 1)[1].split("\n", 1)[0][:200]
        else:
            text = "I am not sure."
        words = len(text.split())
        return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
                "usage": {"inputTokens": len(prompt.split()), "outputTokens": words, "totalTokens": len(prompt.split()) + words},
                "metrics": {"latencyMs": 100 + 10 * words}}

    # --- botocore wiring
    def _log(self, model: Any, params: dict) -> None:
        entry = {"service": model.service_model.service_name, "operation": model.name, "params": params}
        with open(self.request_log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=lambda value: f"<{len(value) if hasattr(value, '__len__') else '?'} bytes>")
                         + "\n")

    @staticmethod
    def keep_params(params: dict, context: dict, **kwargs: Any) -> None:
        context["fake_params"] = dict(params)  # the API's parameters; before-call sees the HTTP request

    def __call__(self, model: Any, context: dict, **kwargs: Any) -> tuple[AWSResponse, dict]:
        with self.lock:
            problems = strict_requests.check(model, context["fake_params"])
            self.strict["checked"] += 1
            self.strict["violations"] += problems
            self.strict_report.write_text(json.dumps(self.strict))
            if problems:
                raise strict_requests.StrictRequestError("a request the service would refuse:\n" + "\n".join(problems))
            self._log(model, context["fake_params"])
            reply = getattr(self, model.name)(context["fake_params"])
            if model.name not in UNCHANGING:  # the state file is read by the next notebook's kernel
                self.state.write_bytes(pickle.dumps((self.objects, self.buckets, self.made)))
        if isinstance(reply, tuple):  # an error: (code, message)
            return AWSResponse("fake://", int(reply[0]), {}, None), {"Error": {"Code": reply[0], "Message": reply[1]}}
        errors = ParamValidator().validate(reply, model.output_shape) if model.output_shape else None
        if errors and errors.has_errors() or (model.output_shape is None and reply):
            report = errors.generate_report() if errors else "this operation returns nothing"
            raise AssertionError(f"the fake's {model.name} response does not fit the service model:\n{report}")
        return AWSResponse("fake://", 200, {}, None), reply


def requests_log(state: Path) -> Path:
    """Where the fake whose state is `state` logs every request it answered."""
    return state.with_name(state.name + ".requests.jsonl")


def install(state: Path) -> FakeBedrock:
    """Answer every call of every client made from boto3's default session."""
    fake = FakeBedrock(state)
    boto3.setup_default_session(region_name=REGION)
    boto3.DEFAULT_SESSION.events.register("before-parameter-build.*.*", fake.keep_params)
    boto3.DEFAULT_SESSION.events.register("before-call.*.*", fake)
    return fake


def _knowledge_base(request, status):
    """The knowledge base the fake made from `request` (CreateKnowledgeBase's parameters), in `status`."""
    return {"knowledgeBaseId": KB_ID, "name": request["name"], "roleArn": request["roleArn"], "status": status,
            "knowledgeBaseArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:knowledge-base/{KB_ID}",
            "knowledgeBaseConfiguration": request["knowledgeBaseConfiguration"],
            "storageConfiguration": request["storageConfiguration"], "createdAt": NOW, "updatedAt": NOW}


KNOWLEDGE_BASE_FORMATS = (".txt", ".md", ".html", ".doc", ".docx", ".csv", ".xls", ".xlsx", ".pdf")  # user guide


@functools.lru_cache(maxsize=None)  # Retrieve reads the corpus at each call: a PDF is parsed once
def _parsed(key: str, data: bytes) -> str | None:
    """The text a knowledge base would take from a file: PDF through a PDF reader, HTML without its tags."""
    suffix = Path(key).suffix.lower()
    if suffix not in KNOWLEDGE_BASE_FORMATS or len(data) > 50 * 1024 * 1024:
        return None
    if suffix == ".pdf":
        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    if suffix == ".html":
        return BeautifulSoup(data.decode(), "html.parser").get_text("\n")
    return data.decode()


def _document_pairs(prompt: str) -> list[dict]:
    """What a model might write: a question on each of the section's first lines, the line as the answer, and
    the line's longest word as its key fact."""
    section = prompt.split("\nDocument: ", 1)[1].split("\n", 1)[1].rsplit("\n\nReply with JSON", 1)[0]
    wanted = int(re.search(r"Write (\d+) different", prompt).group(1))
    lines = [line.strip() for line in section.splitlines() if len(line.split()) >= 4][:wanted]
    return [{"question": f"What does the document say about {max(line.split(), key=len).strip('.,:;')}?",
             "answer": line, "key_facts": [max(line.split(), key=len).strip(".,:;")]} for line in lines]
