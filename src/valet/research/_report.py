"""A research report whose every citation is checked.

The writer (the model) cites its notes by number: `… 42,000 vehicles a day [2].` Each note is
a quote the model took from a source, found in that source's text (so it has offsets), with
the claim it supports. `build_report` cuts the draft into sentences, checks each cited
sentence against the passages it cites (`check`: numbers, dates, names, negation, overlap),
keeps the supported ones, marks the partly supported ones, and removes the unsupported ones
(listed apart with why, so the writer can revise). It also lists the sources with their
credibility, the contradictions between notes (side by side), and the sources that carried
instructions aimed at the agent (flagged, never followed).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace
from datetime import date

from valet.research._checker import Entails, Support, check, check_with_model, sentences
from valet.research._credibility import Credibility
from valet.research._sources import Passage

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass(frozen=True)
class Note:
    """A quote from a source (with its offsets) and the claim the writer takes from it."""

    number: int
    passage: Passage
    claim: str
    title: str = ""
    context: str = ""
    """The paragraph the quote is in: what a citing sentence is checked against (the quote
    alone when empty)."""

    @property
    def support(self) -> str:
        return self.context or self.passage.text


@dataclass(frozen=True)
class SourceEntry:
    """A source in the report's table."""

    url: str
    title: str
    credibility: Credibility
    published: date | None = None
    flagged: tuple[str, ...] = ()
    """Injected instructions found in it (quoted), never followed."""


@dataclass(frozen=True)
class CheckedSentence:
    """One sentence of the draft and what the checker found (`support` None: no citation)."""

    text: str
    cites: tuple[int, ...]
    support: Support | None

    @property
    def kept(self) -> bool:
        return self.support is None or self.support.verdict != "unsupported"


@dataclass(frozen=True)
class Contradiction:
    """Two notes that state different numbers or dates on the same matter, side by side."""

    first: Note
    second: Note
    differs: str


@dataclass(frozen=True)
class Report:
    question: str
    title: str
    sentences: tuple[CheckedSentence, ...]
    notes: dict[int, Note]
    sources: tuple[SourceEntry, ...]
    contradictions: tuple[Contradiction, ...] = field(default=())

    @property
    def removed(self) -> list[CheckedSentence]:
        return [s for s in self.sentences if not s.kept]

    @property
    def uncited(self) -> list[CheckedSentence]:
        """Sentences with a figure or a name but no citation: the checker cannot vouch."""
        return [s for s in self.sentences if s.support is None and re.search(r"\d", s.text)]

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", "", f"*{self.question}*", ""]
        body = " ".join(_shown(s) for s in self.sentences if s.kept)
        lines += [body, ""]
        if self.contradictions:
            lines += ["## Where sources disagree", ""]
            scores = {s.url: s.credibility for s in self.sources}
            for c in self.contradictions:
                sides = [
                    f"[{n.number}] “{n.passage.text}”{_weight(scores.get(n.passage.url))}"
                    for n in (c.first, c.second)
                ]
                lines.append(f"- {c.differs}: {sides[0]} vs {sides[1]}")
            lines.append("")
        lines += ["## Citations", ""]
        for number, note in sorted(self.notes.items()):
            p = note.passage
            lines.append(
                f"{number}. “{p.text}” — [{note.title or p.url}]({p.anchor}) "
                f"(characters {p.start}–{p.end})"
            )
        lines += ["", "## Sources", "", "| source | kind | score | why |", "|---|---|---|---|"]
        for source in self.sources:
            c = source.credibility
            why = "; ".join(c.reasons)
            lines.append(f"| [{source.title}]({source.url}) | {c.kind} | {c.score:.2f} | {why} |")
        flagged = [s for s in self.sources if s.flagged]
        if flagged:
            lines += ["", "## Instructions found in sources (not followed)", ""]
            lines += [f"- {s.url}: “{'”, “'.join(s.flagged)}”" for s in flagged]
        if self.removed:
            lines += ["", "## Removed: not supported by the cited passages", ""]
            for s in self.removed:
                why = "; ".join(s.support.problems) if s.support else ""
                lines.append(f"- {s.text} ({why})")
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        def cite(match: re.Match[str]) -> str:
            links: list[str] = []
            for n in (int(x) for x in match.group(1).split(",")):
                note = self.notes.get(n)
                if note is not None:
                    quote = html.escape(note.passage.text, quote=True)
                    links.append(
                        f'<a class="cite" href="#note-{n}" title="{quote}" '
                        f'data-url="{html.escape(note.passage.anchor, quote=True)}">{n}</a>'
                    )
            return "[" + ", ".join(links) + "]"

        body = " ".join(
            _MARKER.sub(cite, html.escape(_shown(s), quote=False)) for s in self.sentences if s.kept
        )
        notes = "".join(
            f'<li id="note-{n}"><q>{html.escape(note.passage.text)}</q> — '
            f'<a href="{html.escape(note.passage.anchor, quote=True)}">'
            f"{html.escape(note.title or note.passage.url)}</a> "
            f"<small>(characters {note.passage.start}–{note.passage.end})</small></li>"
            for n, note in sorted(self.notes.items())
        )
        rows = "".join(
            f"<tr><td><a href='{html.escape(s.url, quote=True)}'>{html.escape(s.title)}</a></td>"
            f"<td>{s.credibility.kind}</td><td>{s.credibility.score:.2f}</td>"
            f"<td>{html.escape('; '.join(s.credibility.reasons))}</td></tr>"
            for s in self.sources
        )
        disagree = "".join(
            f"<li>{html.escape(c.differs)}: [{c.first.number}] <q>"
            f"{html.escape(c.first.passage.text)}</q> vs [{c.second.number}] <q>"
            f"{html.escape(c.second.passage.text)}</q></li>"
            for c in self.contradictions
        )
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(self.title)}</title></head><body><article class='report'>"
            f"<h1>{html.escape(self.title)}</h1><p><em>{html.escape(self.question)}</em></p>"
            f"<p>{body}</p>"
            + (f"<h2>Where sources disagree</h2><ul>{disagree}</ul>" if disagree else "")
            + f"<h2>Citations</h2><ol>{notes}</ol><h2>Sources</h2><table><thead><tr>"
            f"<th>source</th><th>kind</th><th>score</th><th>why</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></article></body></html>"
        )


def build_report(
    question: str,
    title: str,
    draft: str,
    notes: dict[int, Note],
    sources: tuple[SourceEntry, ...],
) -> Report:
    """Check every cited sentence of `draft` against its notes' passages (see the module)."""
    checked: list[CheckedSentence] = []
    for sentence in sentences(draft):
        cites = tuple(int(n) for m in _MARKER.findall(sentence) for n in m.split(","))
        if not cites:
            checked.append(CheckedSentence(sentence, (), None))
            continue
        claim = _MARKER.sub("", sentence).strip()
        missing = [n for n in cites if n not in notes]
        if missing:
            problem = f"cites note(s) {', '.join(map(str, missing))}, which do not exist"
            checked.append(
                CheckedSentence(sentence, cites, Support("unsupported", 0.0, (problem,)))
            )
            continue
        supports = [check(claim, notes[n].support) for n in cites]
        joined = check(claim, " ".join(notes[n].support for n in cites))
        best = max([*supports, joined], key=lambda s: (_RANK[s.verdict], s.overlap))
        checked.append(CheckedSentence(sentence, cites, best))
    return Report(question, title, tuple(checked), notes, sources, contradictions(notes))


async def confirm(report: Report, entails: Entails) -> Report:
    """`report` with every sentence the code found supported put to a model too: one the model
    finds unsaid by its passages becomes partly supported (never the other way round)."""
    checked: list[CheckedSentence] = []
    for sentence in report.sentences:
        if sentence.support is not None and sentence.support.ok:
            claim = _MARKER.sub("", sentence.text).strip()
            passage = " ".join(report.notes[n].support for n in sentence.cites)
            confirmed = await check_with_model(claim, passage, entails)
            sentence = replace(sentence, support=confirmed)
        checked.append(sentence)
    return replace(report, sentences=tuple(checked))


def contradictions(notes: dict[int, Note]) -> tuple[Contradiction, ...]:
    """Pairs of notes from different sources that share their subject (most of their words
    but numbers) and state different numbers or years: reported, never averaged."""
    found: list[Contradiction] = []
    items = sorted(notes.items())
    for i, (_, first) in enumerate(items):
        for _, second in items[i + 1 :]:
            if first.passage.url == second.passage.url:
                continue
            differs = _differs(first, second)
            if differs is not None:
                found.append(Contradiction(first, second, differs))
    return tuple(found)


_RANK = {"supported": 2, "partial": 1, "unsupported": 0}


def _shown(sentence: CheckedSentence) -> str:
    if sentence.support is not None and sentence.support.verdict == "partial":
        return f"{sentence.text} *(partly supported: {'; '.join(sentence.support.problems)})*"
    return sentence.text


def _differs(first: Note, second: Note) -> str | None:
    said = [f"{note.claim} {note.passage.text}" for note in (first, second)]
    a, b = _topic(said[0]), _topic(said[1])
    if not a or not b or len(a & b) / min(len(a), len(b)) < 0.5:
        return None
    for pick in (_years, _figures):  # years against years, then the other figures
        one, other = pick(said[0]), pick(said[1])
        if one and other and one.isdisjoint(other):
            return f"{', '.join(sorted(one))} or {', '.join(sorted(other))}"
    return None


def agreement(notes: dict[int, Note]) -> dict[str, tuple[int, int]]:
    """For each source of the notes: how many other sources agree with it (a note on the same
    matter stating the same figure) and how many contradict it."""
    agree: dict[str, set[str]] = {}
    against: dict[str, set[str]] = {}
    items = list(notes.values())
    for i, first in enumerate(items):
        for second in items[i + 1 :]:
            a, b = first.passage.url, second.passage.url
            if a == b:
                continue
            if _differs(first, second) is not None:
                against.setdefault(a, set()).add(b)
                against.setdefault(b, set()).add(a)
            elif _same(first, second):
                agree.setdefault(a, set()).add(b)
                agree.setdefault(b, set()).add(a)
    urls = {n.passage.url for n in items}
    return {u: (len(agree.get(u, ())), len(against.get(u, ()))) for u in urls}


def _same(first: Note, second: Note) -> bool:
    said = [f"{note.claim} {note.passage.text}" for note in (first, second)]
    a, b = _topic(said[0]), _topic(said[1])
    if not a or not b or len(a & b) / min(len(a), len(b)) < 0.5:
        return False
    shared = (_figures(said[0]) & _figures(said[1])) | (_years(said[0]) & _years(said[1]))
    return bool(shared)


def _weight(credibility: Credibility | None) -> str:
    return "" if credibility is None else f" ({credibility.kind}, {credibility.score:.2f})"


def _years(text: str) -> set[str]:
    return set(re.findall(r"\b(?:1[89]|20)\d\d\b", text))


def _topic(text: str) -> set[str]:
    from valet.research._checker import STOP_WORDS

    return {w for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in STOP_WORDS}


def _figures(text: str) -> set[str]:
    found = {re.sub(r"[ ,]", "", m) for m in re.findall(r"\d{1,3}(?:[ ,]\d{3})+|\d+", text)}
    return found - _years(text)
