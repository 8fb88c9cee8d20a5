"""Research: search providers, reading sources, weighing their credibility, and reports whose
every citation is checked against the passage it cites.

- `SearchHit`, `Document`, `Passage` (`split_passages`): what is found and read, with offsets.
- `SearchProvider`: `Searxng` (a SearXNG instance's JSON API), `Brave` (the Brave Search API),
  `BrowserSearch` (a search engine's own page, rendered in valet's browser),
  `LocalIndex` (SQLite FTS5 over documents: air-gapped use, tests); `SearchError`.
- `Reader`: HTTP first (a browser `render` for pages that need JavaScript), trafilatura for
  pages, pypdf for PDFs; global and per-domain limits, robots.txt, an `allow` check per URL;
  `Read` (document, links, injection findings) or `ReadFailure`.
- `assess` / `Credibility` / `DomainLists` / `kind_of`: a documented score per source.
- `check` / `Support` / `sentences`: does a passage support a sentence (numbers, dates, names,
  negation, overlap); `check_with_model` adds a model's entailment (`model_entails(model)`).
"""

from valet.research._checker import Support, check, check_with_model, model_entails, sentences
from valet.research._credibility import Credibility, DomainLists, assess, kind_of
from valet.research._reader import Read, Reader, ReadFailure
from valet.research._search import (
    Brave,
    BrowserSearch,
    LocalIndex,
    SearchError,
    SearchProvider,
    Searxng,
)
from valet.research._sources import Document, Passage, SearchHit, split_passages

__all__ = [
    "Brave",
    "BrowserSearch",
    "Credibility",
    "Document",
    "DomainLists",
    "LocalIndex",
    "Passage",
    "Read",
    "ReadFailure",
    "Reader",
    "SearchError",
    "SearchHit",
    "SearchProvider",
    "Searxng",
    "Support",
    "assess",
    "check",
    "check_with_model",
    "kind_of",
    "model_entails",
    "sentences",
    "split_passages",
]
