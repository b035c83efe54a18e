"""Waiting on AWS's long jobs: fetch the state again after a delay that grows by half each time, for at most
the hours the params allow for that kind of resource (`bedrock.wait_hours`).

Time waited is the sum of the delays slept, not a clock's reading: a replay (whose sleep returns at once)
and a test stop exactly where the recorded run would have; a real run's time spent in requests only makes
its wait a little longer than the limit. A wait that stops, on its limit or on credentials that expired,
leaves the resource going on in AWS: running the step again finds it and waits for the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from botocore.exceptions import ClientError

from nova_lab.core.params import BedrockSettings

T = TypeVar("T")

EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}

# Where in the AWS console each kind of wait (a `bedrock.wait_hours` key) can be followed.
CONSOLES = {
    "vector_store": "the Amazon OpenSearch Service console, Serverless > Collections",
    "knowledge_base": "the Amazon Bedrock console, Knowledge Bases",
    "data_source": "the Amazon Bedrock console, Knowledge Bases > its data source",
    "ingestion": "the Amazon Bedrock console, Knowledge Bases > its data source > Sync history",
    "customization_job": "the Amazon Bedrock console, Custom models > Jobs",
    "deployment": "the Amazon Bedrock console, Custom models > its deployment",
    "provisioned_throughput": "the Amazon Bedrock console, Provisioned Throughput",
    "batch_job": "the Amazon Bedrock console, Batch inference",
    "evaluation_job": "the Amazon Bedrock console, Evaluations",
}


class RunStopped(RuntimeError):
    """A Bedrock step stopped on something no retry within the run helps; its message is the way out, shown as
    one line by `nova-lab` (cli.STOPS names every kind). What the run made before it is kept. A loop cut
    short mid-batch sets `partial`: each request's result, None where it was not made."""

    partial: list | None = None


class CredentialsExpired(RunStopped):
    """Short-lived credentials ran out during an hours-long wait or request loop; what runs in AWS goes on."""


class WaitTimedOut(RunStopped):
    """A resource did not reach its final state within its `bedrock.wait_hours`; it goes on in AWS."""


def expired(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in EXPIRED


@dataclass(frozen=True)
class Limit:
    """How long one wait may last and what its stop names: the resource, its limit's key and where to look."""

    what: str  # the resource as the console shows it, e.g. "knowledge base nova-lab-kb"
    kind: str  # its `bedrock.wait_hours` key
    hours: float

    @classmethod
    def of(cls, settings: BedrockSettings, kind: str, what: str) -> "Limit":
        return cls(what, kind, getattr(settings.wait_hours, kind))

    def timed_out(self, status: Any) -> WaitTimedOut:
        return WaitTimedOut(f"{self.what} is still {status} after {self.hours:g} h (bedrock.wait_hours.{self.kind}): "
                            f"look in {CONSOLES[self.kind]}; it goes on in AWS: run the step again to wait for the "
                            f"same one (it is reused), or raise the limit")

    def credentials_expired(self, exc: ClientError) -> CredentialsExpired:
        return CredentialsExpired(f"the AWS credentials expired ({exc.response['Error']['Code']}) while waiting for "
                                  f"{self.what}, which goes on in AWS: refresh credentials and run again: it is "
                                  f"reused, nothing is lost")


def status_of(state: Any) -> str:
    """A describe call's status; None is a resource not listed yet (a first poll right after its create)."""
    return (state or {}).get("status", "not listed yet")


def poll(fetch: Callable[[], T], first_delay: float, max_delay: float, sleep: Callable[[float], None],
         limit: Limit | None = None) -> Iterator[T]:
    """Each fresh state in turn; the caller returns or raises once the state is final. With a `limit`, a wait
    that would go past it stops with the last status (`fetch` then returns a describe call's dict, or None),
    and expired credentials stop with the way out. Teardown bounds its waits by attempts instead."""
    delay, waited = first_delay, 0.0
    while True:
        try:
            state = fetch()
        except ClientError as exc:
            if limit is not None and expired(exc):
                raise limit.credentials_expired(exc) from None
            raise
        yield state
        if limit is not None and waited + delay > limit.hours * 3600:
            raise limit.timed_out(status_of(state))
        sleep(delay)
        waited += delay
        delay = min(delay * 1.5, max_delay)
