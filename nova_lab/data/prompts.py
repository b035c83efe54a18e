"""Prompts: the one place that turns a question (and passages) into model input.

Fine-tuning and inference build their prompts here, with the same system prompt as the Nova
training files, so the fine-tuned model meets at question time the format it learned.
"""

from __future__ import annotations

from typing import Any, Sequence

from nova_lab.data.nova_format import SYSTEM_PROMPT

PROMPT_VERSION = "v1"  # bump on any change below: answers are cached by it
RAG_TEMPLATE = (
    "Use the AWS documentation passages below to answer the question.\n\n{passages}\n\nQuestion: {question}"
)


def user_message(question: str, passages: Sequence[str] = ()) -> str:
    if not passages:
        return question
    numbered = "\n\n".join(f"[{n}] {text}" for n, text in enumerate(passages, 1))
    return RAG_TEMPLATE.format(passages=numbered, question=question)


def messages(user: str, answer: str | None = None, system: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    turns = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    if answer is not None:
        turns.append({"role": "assistant", "content": answer})
    return turns


def render(tokenizer: Any, turns: list[dict[str, str]]) -> str:
    """The model's text for these turns; ends with the assistant's cue when it is to answer."""
    asking = turns[-1]["role"] != "assistant"
    return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=asking)


def question_prompt(tokenizer: Any, question: str, passages: Sequence[str] = ()) -> str:
    """The rendered prompt that asks `question`, with `passages` as RAG context."""
    return render(tokenizer, messages(user_message(question, passages)))


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of rendered text (the chat template already wrote any special tokens)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]
