"""The corpus: AWS API documentation and the facts it states, from botocore's service models.

botocore ships every AWS service's API model, documentation included, so the corpus needs no
download. Each service gives one overview document and one document per operation; each
structured fact (API version, required parameters, enum values, limits, HTTP mapping,
errors, pagination) is written into the document it belongs to, so the knowledge base holds
every fact the Q&A set asks about. Two kinds of facts are free text: what an operation does (the
first sentence of its documentation, which the operation's document starts with) and which
operation does it. And each service gives probes: an operation or a parameter name made by
altering a real one, checked absent from the whole service model, so that a question about it
has one right answer: there is no such thing.
"""

from __future__ import annotations

import json
import re
import warnings
import zlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Iterator

import botocore
import botocore.exceptions
import botocore.loaders
import botocore.model
import pandas as pd
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from tqdm.auto import tqdm

SERVICE_DOC = "_service"
_IDENTIFIER = re.compile(r"^\w+$")
MAX_LISTED = 6  # facts with longer lists (enums, errors) make answers nobody could recall
STATEMENT_WORDS = (5, 30)  # a first sentence shorter says nothing, longer is a paragraph nobody recalls
# "Deletes the queue ...": a first sentence that starts with what the operation does, as most do
_ACTION = re.compile(r"(?:This (?:operation|action|API operation|API) )?(?!Does\b|does\b|This\b)([A-Z]?[a-z]{2,}s)\b(.*)")
# "This operation is not supported for directory buckets.": a note on where the operation is (not) available,
# first in 57 of S3's operations; it says nothing of what the operation does, so the statement is the next sentence
_NOTE = re.compile(r"(?:This|The) (?:operation|action|API operation|API) (?:is|isn't|are)\b.*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<!\b[A-Za-z])\.(?=\s|$)")  # not the dot of "e.g." or "U.S."
MAX_NOTES = 2  # leading notes skipped before the statement; past that the documentation is not a statement
# plausible replacements: the verb of an operation's name, the last word of a parameter's name
PROBE_VERBS = ("Archive", "Clone", "Merge", "Rename", "Pause", "Resume", "Validate", "Export", "Import",
               "Restore", "Rotate", "Purge", "Reset", "Sync", "Promote", "Suspend")
PROBE_WORDS = ("Mode", "Policy", "Format", "Level", "Window", "Strategy", "Scope", "Priority", "Threshold",
               "Version", "Region", "Interval")
ANSWERABLE_TYPES = ("api_version", "protocol", "required_parameters", "enum_values", "length_limits",
                    "value_range", "http_request", "errors", "pagination", "which_operation", "operation_purpose")
PROBE_TYPES = ("no_such_operation", "no_such_parameter")
# paging and dry-run members are on hundreds of operations: altering them makes implausible names
GENERIC_MEMBERS = {"DryRun", "MaxResults", "NextToken", "MaxItems", "Marker", "NextMarker", "MaxRecords",
                   "Limit", "ClientToken"}


@dataclass(frozen=True)
class Document:
    doc_id: str
    service: str
    operation: str | None
    title: str
    text: str


@dataclass(frozen=True)
class Fact:
    """One checkable statement of botocore's model; `key_facts` must all be in a correct answer."""

    fact_id: str
    fact_type: str
    service: str
    service_name: str
    operation: str | None
    parameter: str | None
    key_facts: tuple[str, ...]
    doc_id: str  # the document that states it; for a probe, the real operation's it was made from
    statement: str | None = None  # free-text facts: what the operation does, as its documentation says it


@dataclass
class Corpus:
    documents: pd.DataFrame
    facts: pd.DataFrame

    def stats(self) -> dict[str, int]:
        return {
            "services": int(self.documents["service"].nunique()),
            "documents": len(self.documents),
            "words": int(self.documents["text"].str.split().str.len().sum()),
            "facts": int(self.facts["fact_type"].isin(ANSWERABLE_TYPES).sum()),
            "probes": int(self.facts["fact_type"].isin(PROBE_TYPES).sum()),
        }


@lru_cache(maxsize=None)  # a shape's documentation recurs in every operation that uses it: 43% of calls repeat
def html_to_text(html: str | None) -> str:
    if not html:
        return ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        text = BeautifulSoup(html, "html.parser").get_text(" ")
    return re.sub(r"\s+", " ", text).strip()


def first_sentence(documentation: str | None) -> str | None:
    """The documentation's first sentence as a statement of what the operation does ("deletes the queue
    specified by the QueueUrl, regardless of the queue's contents"), or None when it is not one: it must
    start with a verb in the third person and be 5-30 words of plain prose. Leading notes on where the
    operation is supported (`_NOTE`) are skipped: they are not what it does."""
    text = re.sub(r"\s+([.,;:)])", r"\1", html_to_text(documentation))
    sentences = [s.strip() for s in _SENTENCE_END.split(text)][:-1]  # the text after the last full stop is none
    notes = next((i for i, sentence in enumerate(sentences) if not _NOTE.fullmatch(sentence)), len(sentences))
    match = _ACTION.fullmatch(sentences[notes]) if notes < min(len(sentences), MAX_NOTES + 1) else None
    if match is None or re.search(r"[:;(){}\[\]<>\"]|deprecated", match.group(0), re.IGNORECASE):
        return None
    statement = match.group(1).lower() + match.group(2)
    return statement if STATEMENT_WORDS[0] <= len(statement.split()) <= STATEMENT_WORDS[1] else None


@lru_cache(maxsize=1)
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def load_service(service: str) -> botocore.model.ServiceModel:
    return botocore.model.ServiceModel(_loader().load_service_model(service, "service-2"), service)


def load_paginators(service: str) -> dict[str, dict]:
    try:
        return _loader().load_service_model(service, "paginators-1")["pagination"]
    except botocore.exceptions.DataNotFoundError:
        return {}


def service_name(model: botocore.model.ServiceModel) -> str:
    meta = model.metadata
    return meta.get("serviceAbbreviation") or meta.get("serviceFullName") or model.service_name


def _constraints(shape: botocore.model.Shape) -> str:
    meta = shape.metadata
    parts = []
    if shape.type_name == "string" and "min" in meta and "max" in meta:
        parts.append(f"Length constraints: minimum {meta['min']}, maximum {meta['max']}.")
    elif shape.type_name in ("integer", "long") and "min" in meta and "max" in meta:
        parts.append(f"Valid range: minimum {meta['min']}, maximum {meta['max']}.")
    if meta.get("enum"):
        parts.append("Valid values: " + " | ".join(meta["enum"]) + ".")
    return " ".join(parts)


def _member_line(name: str, shape: botocore.model.Shape, required: bool) -> str:
    kind = f"{shape.type_name}, required" if required else shape.type_name
    body = " ".join(part for part in (html_to_text(shape.documentation), _constraints(shape)) if part)
    return f"- {name} ({kind}): {body}".rstrip(": ")


def _pagination(config: dict) -> tuple[str, str] | None:
    tokens = config.get("input_token"), config.get("output_token")
    if all(isinstance(t, str) and _IDENTIFIER.match(t) for t in tokens):
        return tokens  # type: ignore[return-value]
    return None


def _operation_document(model, name: str, paginator: dict | None) -> Document:
    op = model.operation_model(name)
    svc = service_name(model)
    lines = [f"{svc} {name} operation (API version {model.api_version})", html_to_text(op.documentation)]
    if model.protocol in ("rest-json", "rest-xml"):
        lines.append(f"HTTP request: {op.http['method']} {op.http['requestUri']}")
    if op.input_shape is not None and op.input_shape.members:
        required = set(op.input_shape.required_members)
        if required:
            lines.append("Required parameters: " + ", ".join(sorted(required)) + ".")
        lines.append("Request parameters:")
        lines += [_member_line(n, s, n in required) for n, s in op.input_shape.members.items()]
    if op.output_shape is not None and op.output_shape.members:
        lines.append("Response elements: " + ", ".join(
            f"{n} ({s.type_name})" for n, s in op.output_shape.members.items()) + ".")
    if op.error_shapes:
        lines.append("Errors: " + ", ".join(e.name for e in op.error_shapes) + ".")
    tokens = _pagination(paginator or {})
    if tokens:
        lines.append(
            f"Pagination: results come in pages; pass the {tokens[1]} value of a response as "
            f"{tokens[0]} in the next request."
        )
    return Document(f"{model.service_name}/{name}", model.service_name, name, f"{svc} {name}", "\n".join(lines))


def _service_document(model) -> Document:
    meta = model.metadata
    text = "\n".join([
        f"{meta.get('serviceFullName', service_name(model))} ({service_name(model)}) API overview",
        html_to_text(model.documentation),
        f"API version: {model.api_version}.",
        f"Protocol: {model.protocol}.",
        f"Endpoint prefix: {meta.get('endpointPrefix')}. Signing name: {model.signing_name}.",
        f"Operations: {len(model.operation_names)}.",
    ])
    return Document(f"{model.service_name}/{SERVICE_DOC}", model.service_name, None, f"{service_name(model)} API overview", text)


def _fact(fact_type: str, model, operation: str | None, parameter: str | None,
          key_facts: list, statement: str | None = None, source: str | None = None) -> Fact:
    doc = f"{model.service_name}/{source or operation or SERVICE_DOC}"
    fact_id = "/".join(part for part in (fact_type, model.service_name, operation, parameter) if part)
    return Fact(fact_id, fact_type, model.service_name, service_name(model), operation, parameter,
                tuple(str(k) for k in key_facts), doc, statement)


def _statement_facts(model) -> Iterator[Fact]:
    """What each operation does, and which operation does it where the statement names only one."""
    statements = {name: first_sentence(model.operation_model(name).documentation) for name in model.operation_names}
    shared = {s for s in statements.values() if s and list(statements.values()).count(s) > 1}
    for name, statement in statements.items():
        if statement is None:
            continue
        yield _fact("operation_purpose", model, name, None, [], statement)
        if statement not in shared and name.lower() not in statement.lower():  # the question must not name it
            yield _fact("which_operation", model, name, None, [name], statement)


def model_names(raw_model: dict) -> set[str]:
    """Every name and string value in a raw service model: what a probe's name must not be."""
    return set(re.findall(r'"([^"]+)"', json.dumps(raw_model)))


def _altered(name: str, words: tuple[str, ...], taken: set[str], first: bool) -> str | None:
    """`name` with its first (or last) CamelCase word replaced by one of `words`, absent from `taken`."""
    parts = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name)
    if len(parts) < 2:
        return None
    start = zlib.crc32(name.encode()) % len(words)
    for word in words[start:] + words[:start]:
        candidate = "".join([word, *parts[1:]] if first else [*parts[:-1], word])
        if candidate != name and candidate not in taken:
            return candidate
    return None


def _probe_facts(model, raw_model: dict) -> Iterator[Fact]:
    """One probe operation and one probe parameter per operation, each a real name altered."""
    taken = model_names(raw_model)
    for name in model.operation_names:
        probe = _altered(name, PROBE_VERBS, taken, first=True)
        if probe:
            yield _fact("no_such_operation", model, probe, None, [], source=name)
            taken.add(probe)  # two real names may alter to one: it is one probe
        shape = model.operation_model(name).input_shape
        members = [m for m in (shape.members if shape else ()) if m not in GENERIC_MEMBERS]
        if members:
            real = members[zlib.crc32(name.encode()) % len(members)]
            param = _altered(real, PROBE_WORDS, taken, first=False)
            if param:
                yield _fact("no_such_parameter", model, name, param, [])


def _operation_facts(model, name: str, paginator: dict | None) -> Iterator[Fact]:
    op = model.operation_model(name)
    if model.protocol in ("rest-json", "rest-xml"):
        yield _fact("http_request", model, name, None, [op.http["method"], op.http["requestUri"]])
    if 1 <= len(op.error_shapes) <= MAX_LISTED:
        yield _fact("errors", model, name, None, [e.name for e in op.error_shapes])
    tokens = _pagination(paginator or {})
    if tokens:
        yield _fact("pagination", model, name, None, list(tokens))
    if op.input_shape is None:
        return
    required = op.input_shape.required_members
    if 1 <= len(required) <= MAX_LISTED:
        yield _fact("required_parameters", model, name, None, sorted(required))
    for member, shape in op.input_shape.members.items():
        meta = shape.metadata
        if 2 <= len(meta.get("enum", ())) <= MAX_LISTED:
            yield _fact("enum_values", model, name, member, list(meta["enum"]))
        if "min" in meta and "max" in meta and meta["max"] > meta["min"]:
            if shape.type_name == "string":
                yield _fact("length_limits", model, name, member, [meta["min"], meta["max"]])
            elif shape.type_name in ("integer", "long"):
                yield _fact("value_range", model, name, member, [meta["min"], meta["max"]])


def extract_service(service: str) -> tuple[list[Document], list[Fact]]:
    raw_model = _loader().load_service_model(service, "service-2")
    model = botocore.model.ServiceModel(raw_model, service)
    paginators = load_paginators(service)
    documents = [_service_document(model)]
    facts = [
        _fact("api_version", model, None, None, [model.api_version]),
        _fact("protocol", model, None, None, [model.protocol]),
    ]
    for name in model.operation_names:
        documents.append(_operation_document(model, name, paginators.get(name)))
        facts.extend(_operation_facts(model, name, paginators.get(name)))
    facts += [*_statement_facts(model), *_probe_facts(model, raw_model)]
    return documents, facts


def extract_corpus(services: list[str]) -> Corpus:
    documents: list[Document] = []
    facts: list[Fact] = []
    for service in tqdm(services, desc="corpus: services", unit="service"):
        docs, service_facts = extract_service(service)
        documents += docs
        facts += service_facts
    fact_rows = [{**asdict(f), "key_facts": list(f.key_facts)} for f in facts]
    return Corpus(pd.DataFrame([asdict(d) for d in documents]), pd.DataFrame(fact_rows))


def botocore_version() -> str:
    return botocore.__version__
