"""How far a source can be trusted: a documented score from 0 to 1, with every reason shown.

The score starts from the source's kind, then moves with what the person says of its domain,
its date, whether it names an author, and whether other sources agree with it:

- `official`, 0.85: a government or intergovernmental domain (`.gov`, `.gouv.fr`,
  `.gov.uk`, `europa.eu`, `who.int`…), or schema.org `GovernmentOrganization`;
- `peer_reviewed`, 0.85: scholarly citation tags (`citation_journal_title`,
  `citation_doi`), schema.org `ScholarlyArticle`, `doi.org`;
- `reference`, 0.65: an encyclopedia or dictionary (`wikipedia.org`…);
- `news`, 0.6: schema.org `NewsArticle`, or a news domain the person lists;
- `unknown`, 0.5: nothing says;
- `commercial`, 0.35: schema.org `Product` or `Offer`;
- `forum`, 0.3: schema.org `DiscussionForumPosting` or `QAPage`, or a forum's domain
  (`reddit.com`, `stackexchange.com`, `quora.com`…).

Then: a domain the person trusts +0.2, one they distrust −0.4 (their lists: `[research]
trusted` and `distrusted` in config.toml); dated within two years +0.05, more than ten years
old −0.1; an author named +0.05; each other source that agrees +0.05 (at most +0.15); each
contradiction −0.1. Clipped to 0…1. A contradiction is reported side by side, never averaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from valet.research._sources import Document

Kind = Literal["official", "peer_reviewed", "reference", "news", "unknown", "commercial", "forum"]

BASE: dict[Kind, float] = {
    "official": 0.85,
    "peer_reviewed": 0.85,
    "reference": 0.65,
    "news": 0.6,
    "unknown": 0.5,
    "commercial": 0.35,
    "forum": 0.3,
}
_OFFICIAL_SUFFIXES = (".gov", ".gouv.fr", ".gov.uk", ".gc.ca", ".gov.au", ".admin.ch", ".mil")
_OFFICIAL_DOMAINS = ("europa.eu", "who.int", "un.org", "oecd.org", "imf.org", "worldbank.org")
_REFERENCE_DOMAINS = ("wikipedia.org", "britannica.com", "wiktionary.org")
_FORUM_DOMAINS = ("reddit.com", "stackexchange.com", "stackoverflow.com", "quora.com")
_SIGNALS: dict[str, Kind] = {
    "GovernmentOrganization": "official",
    "GovernmentService": "official",
    "ScholarlyArticle": "peer_reviewed",
    "MedicalScholarlyArticle": "peer_reviewed",
    "NewsArticle": "news",
    "ReportageNewsArticle": "news",
    "DiscussionForumPosting": "forum",
    "QAPage": "forum",
    "Product": "commercial",
    "Offer": "commercial",
}


@dataclass(frozen=True)
class DomainLists:
    """The person's own view of domains (a domain covers its subdomains)."""

    trusted: tuple[str, ...] = ()
    distrusted: tuple[str, ...] = ()
    news: tuple[str, ...] = ()


@dataclass(frozen=True)
class Credibility:
    """A source's score and why."""

    score: float
    kind: Kind
    reasons: tuple[str, ...] = field(default=())


def kind_of(document: Document, lists: DomainLists = DomainLists()) -> tuple[Kind, str]:
    """The source's kind and what said so."""
    domain = document.domain
    for signal in document.signals:
        if signal in _SIGNALS:
            return _SIGNALS[signal], f"the page marks itself {signal}"
    if domain.endswith(_OFFICIAL_SUFFIXES) or _under(domain, _OFFICIAL_DOMAINS):
        return "official", f"{domain} is a government domain"
    if _under(domain, ("doi.org",)):
        return "peer_reviewed", "a DOI"
    if _under(domain, _REFERENCE_DOMAINS):
        return "reference", f"{domain} is a reference work"
    if _under(domain, _FORUM_DOMAINS):
        return "forum", f"{domain} is a forum"
    if _under(domain, lists.news):
        return "news", f"{domain} is a news site you listed"
    return "unknown", "nothing says what kind of source it is"


def assess(
    document: Document,
    lists: DomainLists = DomainLists(),
    *,
    today: date | None = None,
    agree: int = 0,
    contradict: int = 0,
) -> Credibility:
    """The score of `document` (see the module's table), given how many other sources
    `agree` with what it says and `contradict` it."""
    kind, why = kind_of(document, lists)
    score = BASE[kind]
    reasons = [f"{kind.replace('_', ' ')} ({why}): {score:.2f}"]

    def move(by: float, reason: str) -> None:
        nonlocal score
        score += by
        reasons.append(f"{by:+.2f} {reason}")

    domain = document.domain
    if _under(domain, lists.trusted):
        move(0.2, f"you trust {domain}")
    if _under(domain, lists.distrusted):
        move(-0.4, f"you distrust {domain}")
    now = today or date.today()
    if document.published is not None:
        age = (now - document.published).days / 365.25
        if age <= 2:
            move(0.05, f"recent ({document.published.isoformat()})")
        elif age > 10:
            move(-0.1, f"old ({document.published.isoformat()})")
    if document.author:
        move(0.05, f"names its author ({document.author})")
    if agree:
        move(min(0.05 * agree, 0.15), f"{agree} other source(s) agree")
    if contradict:
        move(-0.1 * contradict, f"{contradict} other source(s) contradict it")
    return Credibility(round(min(max(score, 0.0), 1.0), 2), kind, tuple(reasons))


def _under(domain: str, domains: tuple[str, ...]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in domains)
