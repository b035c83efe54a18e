"""Step 05 on Bedrock: an LLM judge through Converse, beside the offline ones and behind the same interface."""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from nova_lab.bedrock.runtime import converse, settled, stop_pool, transient
from nova_lab.judging.judges import Item, Verdict, judge_prompt, parse_verdict


class BedrockJudge:
    """An LLM judge through Amazon Bedrock's Converse: the same RUBRIC, a JSON verdict, NaN when unreadable. Not
    registered: it needs a client and a model id (`bedrock.judge_models`), so `backends.judge_panel` makes it."""

    kind = "LLM through Bedrock Converse"

    def __init__(self, client: Any, model_id: str, concurrency: int = 4, max_tokens: int = 200):
        self.client, self.model_id, self.concurrency, self.max_tokens = client, model_id, concurrency, max_tokens
        self.name = model_id

    def scores(self, item: Item) -> bool:
        return True  # the rubric has a line for every kind of reference

    def judge(self, items: list[Item]) -> list[Verdict | None]:
        """Each item's verdict, or None for a request still failing after botocore's retries (asked again next run).
        Expired credentials or the day's tokens spent stop every request at once, with the way out and, as its
        `partial`, the verdicts of the requests already in flight (verdicts.judge_all keeps them)."""
        def one(item: Item) -> Verdict | None:
            try:
                reply = converse(self.client, self.model_id, judge_prompt(item), self.max_tokens,
                                 system="You are a strict grader of answers about AWS APIs.")
            except (ClientError, BotoCoreError) as exc:
                if transient(exc):  # still failing after botocore's retries: no verdict, asked again next run
                    return None
                raise  # a wrong model id, missing access, expired credentials: retrying will not help, say so
            return parse_verdict(reply.text)

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(one, item) for item in items]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f.exception() for f in futures if f in finished and f.exception()), None)  # the first sent
            if failed is not None:
                stop = stop_pool(pool, failed, f"judge {self.name}")
                if stop is None:
                    raise failed
                stop.partial = settled(futures)
                raise stop from None
            return [future.result() for future in futures]
