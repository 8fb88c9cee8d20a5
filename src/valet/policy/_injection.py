"""Heuristic detection of instruction-like text in untrusted content.

A detector *informs*: its findings are recorded and can turn an `allow` into an `ask`, but the
real defences are the rules, the scope and argument taint, which hold against any wording.
`InjectionDetector` is the interface; a classifier can replace `HeuristicDetector`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Finding:
    """One suspicious passage."""

    kind: str
    """e.g. `override`, `fake_role`, `command`, `hidden_text`, `exfiltration`."""
    excerpt: str

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
                findings.append(Finding(kind, _around(text, match.start(), match.end())))
                if len(findings) >= self.max_findings:
                    return findings
        return findings


def _around(text: str, start: int, end: int, width: int = 40) -> str:
    left, right = max(start - width, 0), min(end + width, len(text))
    snippet = " ".join(text[left:right].split())
    snippet = re.sub(r"[\u200b-\u200f\u2060-\u2064\ufeff\U000e0000-\U000e007f]", "·", snippet)
    return ("…" if left else "") + snippet + ("…" if right < len(text) else "")
