"""Step 05 on Bedrock: an LLM judge through Converse, beside the offline ones and behind the same interface."""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from nova_lab.bedrock import batch
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.runtime import converse, converse_body, reply_of, settled, stop_pool, transient
from nova_lab.core.caching import fingerprint
from nova_lab.judging.judges import Item, Verdict, judge_prompt, parse_verdict

SYSTEM = "You are a strict grader of answers about AWS APIs."


class BedrockJudge:
    """An LLM judge through Amazon Bedrock's Converse: the same RUBRIC, a JSON verdict, NaN when unreadable. Not
    registered: it needs a client and a model id (`bedrock.judge_models`), so `backends.judge_panel` makes it.
    Given a run (`invocation: batch`), it judges all its items in one batch job first (`bedrock.batch`), and asks
    on demand only what the job could not take; the verdicts are the same either way."""

    kind = "LLM through Bedrock Converse"

    def __init__(self, client: Any, model_id: str, concurrency: int = 4, max_tokens: int = 200,
                 run: BedrockRun | None = None):
        self.client, self.model_id, self.concurrency, self.max_tokens = client, model_id, concurrency, max_tokens
        self.name, self.run = model_id, run
        self.items_per_call = None if run is not None else 256  # a batch job takes every item of the step at once

    def scores(self, item: Item) -> bool:
        return True  # the rubric has a line for every kind of reference

    def _request(self, item: Item) -> batch.Request:
        body = converse_body(judge_prompt(item), self.max_tokens, system=SYSTEM)
        return batch.Request(fingerprint(self.model_id, body), self.model_id, body)

    def _distinct(self, items: list[Item]) -> list[batch.Request]:
        return list({r.key: r for r in map(self._request, items)}.values())  # the same prompt: one record

    def submit(self, items: list[Item]) -> None:
        """Start the batch job for these items without waiting (verdicts.judge_all starts every judge's first)."""
        if self.run is not None:
            batch.submit_all(self.run, "verdicts", self._distinct(items))

    def _in_batch(self, items: list[Item]) -> dict[int, Verdict]:
        """The verdicts a batch job gave, by item position (items with the same prompt share one record)."""
        requests = [self._request(item) for item in items]
        outcome = batch.converse_all(self.run, "verdicts", self._distinct(items))
        return {n: parse_verdict(reply_of(outcome.responses[r.key], float("nan")).text)
                for n, r in enumerate(requests) if r.key in outcome.responses}

    def judge(self, items: list[Item]) -> list[Verdict | None]:
        """Each item's verdict, or None for a request still failing after botocore's retries (asked again next run).
        Expired credentials or the day's tokens spent stop every request at once, with the way out and, as its
        `partial`, the verdicts of the requests already in flight (verdicts.judge_all keeps them)."""
        made = self._in_batch(items) if self.run is not None else {}

        def one(n: int) -> Verdict | None:
            if n in made:
                return made[n]
            try:
                reply = converse(self.client, self.model_id, judge_prompt(items[n]), self.max_tokens, system=SYSTEM)
            except (ClientError, BotoCoreError) as exc:
                if transient(exc):  # still failing after botocore's retries: no verdict, asked again next run
                    return None
                raise  # a wrong model id, missing access, expired credentials: retrying will not help, say so
            return parse_verdict(reply.text)

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(one, n) for n in range(len(items))]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f.exception() for f in futures if f in finished and f.exception()), None)  # the first sent
            if failed is not None:
                stop = stop_pool(pool, failed, f"judge {self.name}")
                if stop is None:
                    raise failed
                stop.partial = settled(futures)
                raise stop from None
            return [future.result() for future in futures]
