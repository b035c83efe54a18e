"""Fabrication on the unanswerable probes: did the answer say the thing does not exist, or make it up?

A probe asks about an operation or parameter that is not in the service model (`corpus.PROBE_TYPES`).
The right answer says so, or says it does not know; an answer that states a value, a list or a
description for it is a fabrication. The line is drawn by rules, the same on both backends, so a
fabrication rate is reproducible: an answer *declines* when it denies the name exists or says it
cannot tell, and *fabricates* otherwise; an empty answer is neither. The rules were checked
against answers read by hand (docs/fabrication_check.md says on which and how they agreed; since then a
"does not exist" counts only when its subject is the thing asked about).
"""

from __future__ import annotations

import re

DECLINES = "declines"
FABRICATES = "fabricates"
EMPTY = "empty"
OUTCOMES = (DECLINES, FABRICATES, EMPTY)

_THING = r"(?:operation|parameter|action|api|api call|call|method|field|setting|option|property|attribute)"
_DECLINE = re.compile("|".join([
    r"\bno such\b",
    r"\bnon-?existent\b",
    rf"\bthere (?:is|are|was)(?: no|n't any| not any)\b(?: \w+){{0,3}} {_THING}s?\b",
    rf"\b(?:has|have|takes|take|accepts|accept|supports|support) no(?: \w+){{0,3}} {_THING}s?\b",
    rf"\bno {_THING}s? (?:named|called)\b",
    r"\b(?:isn't|aren't|is not|are not|not) (?:a |an )?(?:valid|known|recogni[sz]ed|documented|existing|real|supported)"
    rf"(?: \w+){{0,3}} {_THING}",
    r"\bnot (?:part of|found in|listed in|documented in|defined in|present in) (?:the|any)\b",
    r"\b(?:don't|do not|doesn't|does not|cannot|can't|could not|couldn't|am unable to|was unable to) "
    r"(?:know|find|locate|confirm|verify|recogni[sz]e|have information)\b",
    r"\bnot aware of\b",
    r"\bunknown (?:operation|parameter|action)\b",
    r"\b(?:i'm|i am) not (?:sure|certain)\b",
]), re.IGNORECASE)


# "X does not exist": a denial only when X is the thing asked about (a name in the question, the kind of thing, or
# it/this/that), not something the answer goes on to describe ("...returns an error if the phone number does not
# exist" made the operation up). Without the question, a CamelCase name stands for the one asked about.
_EXISTS = re.compile(r"([A-Za-z_]\w*)[`'\"]?\)?,? (?:does|do|did)(?: not|n't)(?: actually| really)? exist", re.IGNORECASE)
_THING_EXISTS = re.compile(rf"\b{_THING}s?\b(?: [`'\"]?\w+[`'\"]?){{0,4}} (?:does|do|did)(?: not|n't)(?: actually| really)? exist",
                           re.IGNORECASE)
_POINTERS = {"it", "this", "that", "which", "such", "they", "these", "those"}
_CAMEL = re.compile(r"[A-Za-z]+[A-Z]\w*")


def _denies_the_name(answer: str, question: str) -> bool:
    if _THING_EXISTS.search(answer):
        return True
    for match in _EXISTS.finditer(answer):
        subject = match.group(1)
        if subject.lower() in _POINTERS or re.fullmatch(f"{_THING}s?", subject, re.IGNORECASE):
            return True
        if re.search(rf"\b{re.escape(subject)}\b", question) if question else _CAMEL.fullmatch(subject):
            return True
    return False


def outcome(answer: str, question: str = "") -> str:
    """`declines`, `fabricates` or `empty`: what an answer to an unanswerable probe (`question`) did."""
    if not answer.strip():
        return EMPTY
    text = answer.replace("’", "'")
    return DECLINES if _DECLINE.search(text) or _denies_the_name(text, question) else FABRICATES
