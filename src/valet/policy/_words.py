"""Words people use for sites, connectors and effects, in English and French.

Shared by the instruction compiler (`_compile.py`) and the task scope (`_scope.py`). Pure
regular expressions: what a phrase means is decided by code the person can read.
"""

from __future__ import annotations

import re

from valet.effects import Effect
from valet.policy._sites import site_of

_FILE_SUFFIXES = frozenset(
    (
        *("txt", "pdf", "csv", "tsv", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt"),
        *("ods", "png", "jpg", "jpeg", "gif", "svg", "webp", "zip", "tar", "gz", "json"),
        *("yaml", "yml", "toml", "xml", "html", "htm", "py", "js", "ts", "exe", "mp3"),
        *("mp4", "mov", "wav", "eml", "ics"),
    )
)
"""A name ending in one of these is a file (`invoices.txt`), not a site."""

_SITE = re.compile(
    r"(?<![\w@.\-/])"
    r"(?:https?://)?"
    r"(?P<host>(?:\d{1,3}(?:\.\d{1,3}){3})|(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,63})"
    r"(?P<port>:\d{1,5})?"
    r"(?![\w\-]|@|\.[a-z0-9])",
    re.IGNORECASE,
)
"""A host name or IPv4 address, maybe in a URL and with a port; not part of an e-mail address."""


def sites_in(text: str) -> list[str]:
    """The sites `text` names (`fnac.com`, `https://www.amazon.fr/x`, `127.0.0.1:8765`), in
    order, without duplicates; e-mail addresses and file names are not sites."""
    found: list[str] = []
    for match in _SITE.finditer(text):
        host = match["host"].lower()
        if host.rpartition(".")[2] in _FILE_SUFFIXES:
            continue
        site = site_of(host + (match["port"] or ""))
        if site is not None and site not in found:
            found.append(site)
    return found


def words(*stems: str) -> re.Pattern[str]:
    """Any of `stems` as a whole word (not inside a longer word or a hyphenated one)."""
    return re.compile(r"(?<![\w\-])(?:" + "|".join(stems) + r")(?![\w\-])", re.IGNORECASE)


EFFECT_WORDS: dict[Effect, re.Pattern[str]] = {
    Effect.PURCHASE: words(
        r"buy(?:s|ing)?",
        r"bought",
        r"purchas(?:e|es|ed|ing)",
        r"(?<!in )order(?:s|ed|ing)?",
        r"check(?:ing)?\s*out",
        r"pay(?:s|ing)?",
        r"spend(?:s|ing)?",
        r"achet\w*",
        r"achat\w*",
        r"ach[eè]te\w*",
        r"command(?:e|er|es|ez|ons)",
        r"pa(?:y|i)e\w*",
        r"payer",
        r"d[ée]pens\w*",
    ),
    Effect.DELETE: words(
        r"delet(?:e|es|ed|ing)",
        r"remov(?:e|es|ed|ing)",
        r"eras(?:e|es|ed|ing)",
        r"trash(?:es|ed|ing)?",
        r"wip(?:e|es|ed|ing)",
        r"supprim\w*",
        r"suppression\w*",
        r"effac\w*",
    ),
    Effect.SEND: words(
        r"send(?:s|ing)?",
        r"sent",
        r"e-?mail(?:s|ed|ing)?",
        r"mail(?:s|ed|ing)?",
        r"repl(?:y|ies|ied|ying)",
        r"forward(?:s|ed|ing)?",
        r"envo(?:i|y)\w*",
        r"r[ée]pond\w*",
        r"transf[ée]r\w*",
        r"courriels?",
    ),
    Effect.PUBLISH: words(
        r"publish(?:es|ed|ing)?",
        r"post(?:s|ed|ing)?",
        r"tweet(?:s|ed|ing)?",
        r"comment(?:s|ed|ing)?",
        r"publi\w*",
        r"poster",
        r"comment(?:er|e)",
    ),
    Effect.SHARE: words(
        r"shar(?:e|es|ed|ing)",
        r"invit(?:e|es|ed|ing)",
        r"partag\w*",
    ),
    Effect.SUBMIT: words(
        r"submit(?:s|ted|ting)?",
        r"fill(?:s|ed|ing)?",
        r"book(?:s|ed|ing)?",
        r"register(?:s|ed|ing)?",
        r"sign(?:s|ed|ing)?\s+up",
        r"subscrib(?:e|es|ed|ing)",
        r"soumet\w*",
        r"rempli\w*",
        r"r[ée]serv\w*",
        r"inscri\w*",
    ),
    Effect.CREATE: words(
        r"creat(?:e|es|ed|ing)",
        r"add(?:s|ed|ing)?",
        r"cr[ée]{1,2}\w*",
        r"ajout\w*",
    ),
    Effect.UPDATE: words(
        r"updat(?:e|es|ed|ing)",
        r"edit(?:s|ed|ing)?",
        r"modif(?:y|ies|ied|ying)",
        r"chang(?:e|es|ed|ing)",
        r"renam(?:e|es|ed|ing)",
        r"modifi\w*",
        r"mettre\s+[àa]\s+jour",
        r"renomm\w*",
    ),
    Effect.DOWNLOAD: words(r"download(?:s|ed|ing)?", r"t[ée]l[ée]charg\w*"),
    Effect.EXECUTE: words(
        r"execut(?:e|es|ed|ing)",
        r"ex[ée]cut\w*",
        r"run(?:s|ning)?\s+(?:the\s+|a\s+)?(?:script|command|code|program)s?",
    ),
}
"""Verbs (and a few nouns) that name each consequential effect."""


def effects_in(text: str) -> list[Effect]:
    """The effects whose words appear in `text`, in `Effect` order."""
    return [effect for effect, words in EFFECT_WORDS.items() if words.search(text)]


CONNECTOR_WORDS: dict[str, re.Pattern[str]] = {
    "drive": words(r"(?:google\s+)?drive", r"dropbox", r"onedrive", r"cloud\s+storage"),
    "files": words(r"files?", r"documents?", r"fichiers?"),
    "email": words(r"e-?mails?", r"inbox", r"mailbox", r"courriels?", r"bo[iî]te\s+mail"),
    "calendar": words(r"calendars?", r"agenda", r"calendriers?"),
    "github": words(r"github", r"repositor(?:y|ies)", r"repos?", r"d[ée]p[oô]ts?"),
    "chat": words(r"chat", r"slack", r"matrix", r"messag(?:es|erie)"),
    "bank": words(r"bank(?:\s+account)?", r"banque", r"compte\s+bancaire"),
}
"""Connector names as valet's connectors register them, and the words that name them."""
