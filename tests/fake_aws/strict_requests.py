"""The constraints of a request's service model that botocore's own ParamValidator leaves to the
service: `enum` values, `pattern`s, `max` lengths of strings, blobs, lists and maps, `max` values of
numbers, and `min` lengths of maps and blobs (botocore checks the other minimums itself).

A service answers a request that breaks one of them with a ValidationException; here it is found
without an account. Patterns are matched whole, as the services (Java's `String.matches`) do. A
botocore pattern is written for Java's regex engine: one Python's `re` cannot compile (`\\p{L}`,
nested classes) is skipped, and counted in SKIPPED_PATTERNS; so is one with `/d` written for `\\d`
(bedrock-agent's TaggableResourcesArn has `:/d{12}:`, which no account id matches: a typo in the
model, as the services accept these ARNs).

Used by tests/conftest.py (every client the tests make) and fake_bedrock.py (the notebook kernels).
"""

from __future__ import annotations

import re
import threading
import warnings
from typing import Any

NUMBERS = {"integer", "long", "float", "double"}

# Enum values the service takes that the service model does not list, each with where it is documented.
DOCUMENTED_ENUM_VALUES = {
    # every model-as-judge example of the Bedrock user guide ("Create a model evaluation job using custom metrics")
    # and of aws-samples gives `"taskType": "General"`; botocore's EvaluationTaskType lists no General
    "EvaluationTaskType": {"General"},
}

SKIPPED_PATTERNS: dict[str, str] = {}  # pattern met -> why it was not applied
MANGLED_DIGIT = re.compile(r"(?<!\\)/d[{+*]")  # `/d{12}` where `\d{12}` was meant
_compiled: dict[str, re.Pattern | None] = {}
_lock = threading.Lock()  # warnings.catch_warnings is process-wide


class StrictRequestError(BaseException):
    """A request the service would refuse. A BaseException, so that code catching `Exception` around a
    call (a batch of Converse calls counts failures and goes on) cannot turn it into a quiet failure."""


def compiled(pattern: str) -> re.Pattern | None:
    with _lock:
        if pattern not in _compiled:
            if MANGLED_DIGIT.search(pattern):
                _compiled[pattern] = None
                SKIPPED_PATTERNS[pattern] = "`/d` for `\\d`: a typo in the model"
                return None
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a FutureWarning (nested set, `&&`) means Java meant more
                try:
                    _compiled[pattern] = re.compile(pattern)
                except (re.error, Warning) as exc:
                    _compiled[pattern] = None
                    SKIPPED_PATTERNS[pattern] = f"not compilable by Python's re: {exc}"
        return _compiled[pattern]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _length(shape: Any, value: Any, path: str, what: str, problems: list[str], check_min: bool) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if high is not None and len(value) > high:
        problems.append(f"{path} = {_shown(value)}: {what} {len(value)} is over the maximum length {high}")
    if check_min and low is not None and len(value) < low:
        problems.append(f"{path} = {_shown(value)}: {what} {len(value)} is under the minimum length {low}")


def _walk(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False) or not isinstance(value, dict):
            return  # a free-form document, or a type botocore reports itself
        for name, member in shape.members.items():
            if name in value:
                _walk(member, value[name], f"{path}.{name}" if path else name, problems)
    elif kind == "list" and isinstance(value, (list, tuple)):
        _length(shape, value, path, "length", problems, check_min=False)
        for i, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map" and isinstance(value, dict):
        _length(shape, value, path, "size", problems, check_min=True)
        for key, item in value.items():
            _walk(shape.key, key, f"{path} (key)", problems)
            _walk(shape.value, item, f"{path}[{key!r}]", problems)
    elif kind == "string" and isinstance(value, str):
        enum = getattr(shape, "enum", None)
        if enum and value not in enum and value not in DOCUMENTED_ENUM_VALUES.get(shape.name, ()):
            problems.append(f"{path} = {_shown(value)}: not one of the enum {shape.name} {sorted(enum)}")
        _length(shape, value, path, "length", problems, check_min=False)
        pattern = shape.metadata.get("pattern")
        regex = compiled(pattern) if pattern is not None else None
        if regex is not None and not regex.fullmatch(value):
            problems.append(f"{path} = {_shown(value)}: does not match the pattern {pattern}")
    elif kind == "blob" and isinstance(value, (bytes, bytearray, str)):
        _length(shape, value, path, "length", problems, check_min=True)
    elif kind in NUMBERS and isinstance(value, (int, float)) and not isinstance(value, bool):
        high = shape.metadata.get("max")
        if high is not None and value > high:
            problems.append(f"{path} = {_shown(value)}: over the maximum value {high}")


def check(operation: Any, params: dict[str, Any]) -> list[str]:
    """What in `params` breaks the constraints of `operation` (a botocore OperationModel) that botocore
    does not check; each line names the operation, the member's path, the value and the constraint."""
    if operation.input_shape is None:
        return []
    problems: list[str] = []
    _walk(operation.input_shape, params, "", problems)
    where = f"{operation.service_model.service_name} {operation.name}"
    return [f"{where}: {problem}" for problem in problems]
