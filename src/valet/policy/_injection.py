"""Heuristic detection of instruction-like text in untrusted content.

A detector *informs*: its findings are recorded and can turn an `allow` into an `ask`, but the
real defences are the rules, the scope and argument taint, which hold against any wording.
`InjectionDetector` is the interface; a classifier can replace `HeuristicDetector`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Finding:
    """One suspicious passage."""

    kind: str
    """e.g. `override`, `addressed`, `fake_role`, `command`, `hidden_text`, `exfiltration`."""
    excerpt: str
    start: int = field(default=-1, compare=False)
    """Where the match starts in the scanned text (-1: unknown)."""
    end: int = field(default=-1, compare=False)

    def __str__(self) -> str:
        return f"{self.kind}: {self.excerpt}"


class InjectionDetector(Protocol):
    def scan(self, text: str) -> list[Finding]: ...


_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "override",
        re.compile(
            r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}?\b(?:previous|prior|above|"
            r"earlier|all|your|the)\b[^.\n]{0,20}?\b(?:instructions?|prompts?|rules?|directions?|"
            r"guidelines?|messages?)",
            re.IGNORECASE,
        ),
    ),
    (
        "addressed",
        re.compile(
            r"\b(?:this\s+is\s+an?\s+(?:important|urgent|priority)\s+(?:message|note|notice|"
            r"instruction|request)s?\b|message\s+from\s+me\b[^.\n]{0,60}?\bto\s+you\b|"
            r"\b(?:dear|hey|hello|attention|note\s+(?:to|for))\s+(?:the\s+)?(?:ai|llm|assistant|"
            r"agent|model|bot)s?\b|\b(?:ai|llm)\s+(?:assistant|agent|model)s?\b[^.\n]{0,40}?"
            r"\b(?:please|must|should|need)\b|\b(?:assistants?|agents?|models?|ai)\s+"
            r"(?:reading|processing|summari[sz]ing|handling)\s+this\b|\b(?:before|after|instead\s+of)"
            r"\s+(?:you\s+)?(?:can\s+)?(?:solv|complet|continu|finish|do|answer|start)\w*\s+(?:the|your|"
            r"this|my)\s+(?:original\s+|current\s+|actual\s+|real\s+)?(?:task|request|job)\b|"
            r"\bthe\s+task\s+(?:that\s+)?I\s+gave\s+you\b|\bplease\s+do\s+the\s+following\b|"
            r"\bdo\s+the\s+following\s+first\b|\bstrictly\s+(?:adhere|follow)\b|"
            r"\bTODO\s*(?:for|to)\s+(?:the\s+)?(?:ai|assistant|agent|model)\b|"
            r"\b(?:assistant|agent)\s*[,:]\s*(?:please|you\s+(?:must|should|need))\b)",
            re.IGNORECASE,
        ),
    ),
    (
        "fake_tag",
        re.compile(
            r"</?\s*(?:information|instructions?|important|system|admin|assistant|task|"
            r"hidden|secret)\s*>|\bIMPORTANT\s*!{2,}",
            re.IGNORECASE,
        ),
    ),
    (
        "fake_role",
        re.compile(
            r"(?:^|\n|[.!?]\s)\s*(?:system|user|assistant|developer)\s*(?:message|prompt|note)?\s*:|"
            r"[\[<(]\s*(?:system|user|assistant|developer)\s*(?:message|prompt)?\s*[\]>)]",
            re.IGNORECASE,
        ),
    ),
    (
        "fake_role",
        re.compile(r"<\|?(?:im_start|system|endoftext)\|?>|\[/?INST\]", re.IGNORECASE),
    ),
    (
        "command",
        re.compile(
            r"\byou\s+(?:must|should|need\s+to|have\s+to|are\s+(?:now\s+)?required\s+to)\s+"
            r"(?:now\s+|immediately\s+)?\w+|\bnew\s+instructions?\b|\bfrom\s+now\s+on\b|"
            r"\bas\s+an?\s+(?:ai|assistant|agent)\b[^.\n]{0,30}\b(?:must|should)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "request",
        re.compile(
            r"\b(?:please|kindly)\s+(?:\w+\s+){0,3}?(?:send|forward|share|delete|remove|cancel|post|"
            r"pay|transfer|add|invite|visit|click|open|reserve|book|e-?mail|put|schedule|change|"
            r"update|move|redirect)\b|(?:^|[.!?:;]\s+|\n)\s*(?:send|forward|share|delete|remove|"
            r"cancel|post|transfer|invite|visit|click|reserve|redirect)\s+(?:it|this|them|him|her|"
            r"the|all|every|a|an|to|your)\b|\b(?:is|are)\s+to\s+be\s+(?:paid|sent|transferred|"
            r"forwarded|shared|deleted|posted)\b|\bmust\s+(?:go|be\s+(?:sent|paid|removed|deleted|"
            r"cancelled|canceled|posted|forwarded|shared|changed|updated|redirected))\b|"
            r"\b(?:send|forward|post|share|add)\s+(?:it|this|them|him|her)\s+(?:to|there|in)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "exfiltration",
        re.compile(
            r"\b(?:send|forward|email|transfer|upload|post)\b[^.\n]{0,40}\b(?:password|"
            r"credentials?|api[\s_-]?keys?|tokens?|cookies?|secrets?|contacts?|inbox|"
            r"personal\s+data)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "hidden_text",
        re.compile(
            r"[\u200b-\u200f\u2060-\u2064\ufeff]{2,}|[\U000e0000-\U000e007f]|"
            r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px)?\b|"
            r"opacity\s*:\s*0(?:\.0+)?\b|<!--",
            re.IGNORECASE,
        ),
    ),
)


class HeuristicDetector:
    """Regular expressions for the common shapes of injected instructions."""

    def __init__(self, max_findings: int = 8) -> None:
        self.max_findings = max_findings

    def scan(self, text: str) -> list[Finding]:
        findings: list[Finding] = []
        for kind, pattern in _PATTERNS:
            for match in pattern.finditer(text):
                start, end = match.start(), match.end()
                findings.append(Finding(kind, _around(text, start, end), start, end))
                if len(findings) >= self.max_findings:
                    return findings
        return findings


def _around(text: str, start: int, end: int, width: int = 40) -> str:
    left, right = max(start - width, 0), min(end + width, len(text))
    snippet = " ".join(text[left:right].split())
    snippet = re.sub(r"[\u200b-\u200f\u2060-\u2064\ufeff\U000e0000-\U000e007f]", "·", snippet)
    return ("…" if left else "") + snippet + ("…" if right < len(text) else "")
