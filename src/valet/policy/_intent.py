"""What the person's request asks valet to do: which consequential effects it states.

"Reply to Lily" states a send; "what's on my calendar tomorrow?" states none. A consequential
action the request does not state is refused by the policy (`intent.<effect>`): a page, a mail
or a file cannot add a payment or a deletion to a task that only reads. The words are read
generously (an effect's neighbours count: "book a table" states a creation and a purchase),
because a refusal here costs the person a task, while what the request states is still checked
value by value (provenance) and asked as usual.

Some tools change what protects the person (a password, their contact details, who may
access something): those are stated only when the request names what they change ("change my
password"), whatever verb it uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from valet.effects import Effect
from valet.policy._verb_use import used_as_verb
from valet.policy._words import sites_in
from valet.policy._words import words as _words

_VERBS: dict[Effect, re.Pattern[str]] = {
    Effect.SEND: _words(
        r"send(?:s|ing)?",
        r"sent",
        r"repl(?:y|ies|ied|ying)",
        r"respond(?:s|ed|ing)?",
        r"answer(?:s|ed|ing)?\s+(?!me\b|us\b|the\s+question)\w+",
        r"forward(?:s|ed|ing)?",
        r"notif(?:y|ies|ied|ying)",
        r"inform(?:s|ed|ing)?",
        r"tell(?:s|ing)?\s+(?!me\b|us\b)\w+",
        r"let\s+(?!me\b|us\b)\w+(?:\s+\w+)?\s+know",
        r"remind(?:s|ed|ing)?\s+(?!me\b|us\b)\w+",
        r"contact(?:s|ed|ing)?",
        r"write\s+(?:to|back|an?\s+(?:e-?mail|message|note|reply))",
        r"invit(?:e|es|ed|ing)",
        r"envo(?:i|y)\w*",
        r"r[ée]pond\w*",
        r"transf[ée]r\w*",
    ),
    Effect.PUBLISH: _words(
        r"publish(?:es|ed|ing)?",
        r"post(?:s|ed|ing)?",
        r"tweet(?:s|ed|ing)?",
        r"comment(?:s|ed|ing)?",
        r"announc(?:e|es|ed|ing)",
        r"push(?:es|ed|ing)?(?!\s+back)",
        r"deploy(?:s|ed|ing)?",
        r"releas(?:e|es|ed|ing)",
        r"upload(?:s|ed|ing)?",
        r"publi\w*",
    ),
    Effect.SHARE: _words(
        r"shar(?:e|es|ed|ing)",
        r"grant(?:s|ed|ing)?",
        r"invit(?:e|es|ed|ing)",
        r"give\s+\w+(?:\s+\w+)?\s+access",
        r"partag\w*",
    ),
    Effect.PURCHASE: _words(
        r"buy(?:s|ing)?",
        r"bought",
        r"purchas(?:e|es|ed|ing)",
        r"order(?:s|ed|ing)?",
        r"check(?:ing)?\s*out",
        r"pay(?:s|ing)?",
        r"refund(?:s|ed|ing)?",
        r"reimburs(?:e|es|ed|ing)",
        r"transfer(?:s|red|ring)?",
        r"wire(?:s|d)?",
        r"settle(?:s|d)?",
        r"rent(?:s|ed|ing)?",
        r"book(?:s|ed|ing)?",
        r"reserv(?:e|es|ed|ing)",
        r"subscrib(?:e|es|ed|ing)",
        r"donat(?:e|es|ed|ing)",
        r"tip",
        r"achet\w*",
        r"command(?:e|er|es|ez|ons)",
        r"pa(?:y|i)e\w*",
        r"payer",
        r"r[ée]serv\w*",
    ),
    Effect.DELETE: _words(
        r"delet(?:e|es|ed|ing)",
        r"remov(?:e|es|ed|ing)",
        r"eras(?:e|es|ed|ing)",
        r"trash(?:es|ed|ing)?",
        r"wip(?:e|es|ed|ing)",
        r"cancel(?:s|led|ed|ling|ing)?",
        r"clear(?:s|ed|ing)?",
        r"clean(?:s|ed|ing)?\s+up",
        r"unsubscrib(?:e|es|ed|ing)",
        r"declin(?:e|es|ed|ing)",
        r"discard(?:s|ed|ing)?",
        r"get\s+rid\s+of",
        r"supprim\w*",
        r"effac\w*",
        r"annul\w*",
    ),
    Effect.CREATE: _words(
        r"creat(?:e|es|ed|ing)",
        r"add(?:s|ed|ing)?",
        r"schedul(?:e|es|ed|ing)",
        r"set(?:s|ting)?\s+up",
        r"organi[sz](?:e|es|ed|ing)",
        r"plan(?:s|ned|ning)?",
        r"make(?:s)?",
        r"made",
        r"writ(?:e|es|ing)",
        r"wrote",
        r"draft(?:s|ed|ing)?",
        r"sav(?:e|es|ed|ing)",
        r"note\s+down",
        r"put(?:s|ting)?",
        r"block(?:s|ed|ing)?",
        r"open(?:s|ed|ing)?\s+(?:an?\s+)?(?:issue|ticket|pull\s+request|pr)",
        r"file\s+(?:an?\s+)?(?:issue|ticket|report|bug)",
        r"upload(?:s|ed|ing)?",
        r"cop(?:y|ies|ied|ying)",
        r"duplicat(?:e|es|ed|ing)",
        r"generat(?:e|es|ed|ing)",
        r"prepar(?:e|es|ed|ing)",
        r"compos(?:e|es|ed|ing)",
        r"register(?:s|ed|ing)?",
        r"sign(?:s|ed|ing)?\s+up",
        r"remind(?:er|ers)?",
        r"invit(?:e|es|ed|ing)",
        r"cr[ée]{1,2}\w*",
        r"ajout\w*",
    ),
    Effect.UPDATE: _words(
        r"updat(?:e|es|ed|ing)",
        r"edit(?:s|ed|ing)?",
        r"modif(?:y|ies|ied|ying)",
        r"chang(?:e|es|ed|ing)",
        r"renam(?:e|es|ed|ing)",
        r"rewrit(?:e|es|ing|ten)",
        r"rewrote",
        r"revis(?:e|es|ed|ing)",
        r"tid(?:y|ies|ied|ying)",
        r"sort(?:s|ed|ing)?",
        r"reorgani[sz](?:e|es|ed|ing)",
        r"restructur(?:e|es|ed|ing)",
        r"clean(?:s|ed|ing)?",
        r"format(?:s|ted|ting)?",
        r"polish(?:es|ed|ing)?",
        r"improv(?:e|es|ed|ing)",
        r"reschedul(?:e|es|ed|ing)",
        r"mov(?:e|es|ed|ing)",
        r"postpon(?:e|es|ed|ing)",
        r"push(?:es|ed|ing)?\s+back",
        r"shift(?:s|ed|ing)?",
        r"set(?:s|ting)?",
        r"mark(?:s|ed|ing)?",
        r"append(?:s|ed|ing)?",
        r"fix(?:es|ed|ing)?",
        r"correct(?:s|ed|ing)?",
        r"adjust(?:s|ed|ing)?",
        r"includ(?:e|es|ed|ing)",
        r"replac(?:e|es|ed|ing)",
        r"reset(?:s|ting)?",
        r"complet(?:e|es|ed|ing)",
        r"label(?:s|led|ed|ling|ing)?",
        r"archiv(?:e|es|ed|ing)",
        r"tag(?:s|ged|ging)?",
        r"assign(?:s|ed|ing)?",
        r"extend(?:s|ed|ing)?",
        r"accept(?:s|ed|ing)?",
        r"merg(?:e|es|ed|ing)",
        r"commit(?:s|ted|ting)?",
        r"join(?:s|ed|ing)?",
        r"leav(?:e|es|ing)",
        r"clos(?:e|es|ed|ing)",
        r"modifi\w*",
        r"mettre\s+[àa]\s+jour",
        r"renomm\w*",
    ),
    Effect.SUBMIT: _words(
        r"submit(?:s|ted|ting)?",
        r"fill(?:s|ed|ing)?",
        r"appl(?:y|ies|ied|ying)",
        r"sign(?:s|ed|ing)?\s+in",
        r"log(?:s|ged|ging)?\s+in",
        r"soumet\w*",
        r"rempli\w*",
        r"inscri\w*",
    ),
    Effect.EXECUTE: _words(
        r"execut(?:e|es|ed|ing)",
        r"run(?:s|ning)?",
        r"ex[ée]cut\w*",
        # computing in the workspace's sandbox: what the person asks it to work out or make
        r"comput\w*",
        r"calcul\w*",
        r"analy[sz]\w*",
        r"plot\w*",
        r"charts?",
        r"graphs?",
        r"spreadsheets?",
        r"slides?",
        r"slide\s*decks?",
        r"xlsx",
        r"pptx",
        r"tableurs?",
        r"graphiques?",
    ),
}
"""The verbs that state each effect (English and French)."""

_MAIL_WORD = re.compile(
    r"(?<![\w\-])(?:e-?mail|mail|message|text|dm|ping|cc)(?:s|ed|ing)?(?![\w\-])", re.IGNORECASE
)
_NOUN_BEFORE = frozenset(
    [
        "the",
        "my",
        "an",
        "a",
        "this",
        "that",
        "his",
        "her",
        "their",
        "your",
        "our",
        "its",
        "last",
        "latest",
        "new",
        "recent",
        "unread",
        "each",
        "every",
        "which",
        "what",
        "whose",
        "any",
        "some",
        "no",
        "first",
        "next",
        "previous",
        "same",
        "old",
        "an",
        "other",
        "another",
        "original",
    ]
)
_NOUN_AFTER = re.compile(
    r"\s*(?:from|about|address|addresses|inbox|thread|account|subject|with|was|is|are|were|in|"
    r"of|on|that|which|i|you|we|he|she|they|and|or)(?!\w)|\s*(?:[,.?!]|$)",
    re.IGNORECASE,
)


def _mail_verb(text: str) -> bool:
    """ "Email Bob", "e-mail me the list", "message the team": a word for a message used as
    a verb (not "read my email", "Lily's last e-mail", "the message from Bob")."""
    for match in _MAIL_WORD.finditer(text):
        before = text[: match.start()].split()
        previous = before[-1].casefold().strip("\"'(“‘") if before else ""
        if previous in _NOUN_BEFORE or previous.endswith(("'s", "’s")):
            continue
        if _NOUN_AFTER.match(text, match.end()):
            continue
        return True
    return False


_WEB_READING = re.compile(
    r"(?<![\w\-])(?:read|open|visit|brows|check|look|go|summari[sz]|follow|click|see|view|"
    r"search|skim|review|fetch|research)\w*(?:\W+\w+){0,6}?\W+(?:articles?|(?:web\s*)?pages?|"
    r"web\s*sites?|sites?|blogs?|urls?|links?|online|web|internet)(?![\w\-])|"
    r"(?<![\w\-])(?:online|on\s+the\s+(?:web|internet)|brows(?:e|ing)|google)(?![\w\-])",
    re.IGNORECASE,
)
"""Words asking to read something on the web: "read the article", "check the link Bob sent",
"look it up online" (not "send Bob the link": passing a link on does not open it)."""


def _reads_the_web(text: str) -> bool:
    """The person asks to open something on the web: they name a site, or say to read one."""
    return bool(sites_in(text)) or _WEB_READING.search(text) is not None


_NEIGHBOURS: dict[Effect, frozenset[Effect]] = {
    Effect.NAVIGATE: frozenset({Effect.NAVIGATE}),
    Effect.SEND: frozenset({Effect.SEND, Effect.SHARE, Effect.PUBLISH}),
    Effect.PUBLISH: frozenset({Effect.PUBLISH, Effect.SEND}),
    Effect.SHARE: frozenset({Effect.SHARE, Effect.SEND}),
    Effect.PURCHASE: frozenset({Effect.PURCHASE}),
    Effect.DELETE: frozenset({Effect.DELETE}),
    Effect.CREATE: frozenset({Effect.CREATE, Effect.UPDATE, Effect.PURCHASE, Effect.SUBMIT}),
    Effect.UPDATE: frozenset({Effect.UPDATE, Effect.CREATE, Effect.SHARE}),
    Effect.SUBMIT: frozenset(
        {Effect.SUBMIT, Effect.CREATE, Effect.PURCHASE, Effect.SEND, Effect.UPDATE}
    ),
    Effect.EXECUTE: frozenset({Effect.EXECUTE}),
}
"""An action of effect E is stated when the request uses a verb of any effect here."""

_GUARDED: tuple[tuple[re.Pattern[str], re.Pattern[str], str], ...] = (
    (
        re.compile(r"pass(?:word|code|phrase)|pwd|credential|pin\b", re.IGNORECASE),
        _words(r"pass(?:word|code|phrase)s?", r"pwd", r"credentials?", r"pin", r"mot\s+de\s+passe"),
        "password",
    ),
    (
        re.compile(r"2fa|mfa|otp|two.?factor|recovery|security", re.IGNORECASE),
        _words(r"2fa", r"mfa", r"two[\s\-]factor", r"recovery", r"security"),
        "security settings",
    ),
    (
        re.compile(r"user.?info|profile|personal|contact.?details|address|phone", re.IGNORECASE),
        _words(
            r"address(?:es)?",
            r"phone",
            r"profile",
            r"personal",
            r"(?:user|contact|account)\s+(?:info|information|details)",
            r"(?:first|last|full)\s+name",
            r"street",
            r"city",
            r"adresse",
        ),
        "personal details",
    ),
    (
        re.compile(r"permission|role|admin|owner|access", re.IGNORECASE),
        _words(r"permissions?", r"roles?", r"admins?", r"owners?", r"access"),
        "permissions",
    ),
    (
        re.compile(r"api.?key|token|secret", re.IGNORECASE),
        _words(r"api\s*keys?", r"tokens?", r"secrets?"),
        "keys",
    ),
)
"""Tools that change what protects the person: (tool name pattern, the words the request must
use, what they change)."""

_OVERWRITES = frozenset(
    {"write", "edit", "update", "move", "rename", "replace", "overwrite", "patch"}
)
"""A tool whose name says it writes: declared destructive because it overwrites, it is still
the write the person's "update" or "add" asks for."""

_NOT_ME = re.compile(r"\b(?:tell|show|give|remind)\s+(?:me|us)\b", re.IGNORECASE)


def _name_words(tool: str) -> set[str]:
    """The words of a tool's name: `fs_write_file`, `writeFile` → {write, file}."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", tool)}


_MANY = re.compile(
    r"(?<![\w\-])(?:all|each|every|both|everyone|everybody|them|these|those|several|multiple|"
    r"many|few|twice|recurring|monthly|weekly|daily|and|or|plus|"
    r"two|three|four|five|six|seven|eight|nine|ten|\d+\s*(?:x|times)|"
    r"bills|invoices|payments|transfers|debts|fees|dues|instal?ments|orders|purchases|"
    r"subscriptions|tickets|bookings|reservations|refunds|people|friends)(?![\w\-])",
    re.IGNORECASE,
)
"""Words that make what a payment verb asks for several payments ("pay the bills", "pay
Alice and Bob", "tip everyone")."""
_CLAUSE_END = re.compile(r"[.;!?\n]|,\s*(?:then|and\s+then)\b")


def _payments(text: str) -> int | None:
    """How many money-moving actions `text` asks for: one per verb that can state one ("pay
    the bill", "send her back the extra"), None when one of them asks for several or an open
    number. 0 when no such verb is used (the count then limits nothing)."""
    ends = {  # where each verb ends, by where it starts: a word of both effects counts once
        match.start(): match.end()
        for effect in (Effect.PURCHASE, Effect.SEND)
        for match in _VERBS[effect].finditer(text)
        if used_as_verb(text, match.start(), match.end())
    }
    for after in ends.values():
        clause = _CLAUSE_END.search(text, after)
        if _MANY.search(text, after, clause.start() if clause else len(text)):
            return None
    return len(ends)


@dataclass(frozen=True, slots=True)
class Intent:
    """The effects the person's words state (their request, later messages and answers)."""

    verbs: frozenset[Effect] = frozenset()
    text: str = ""
    payments: int | None = 0
    """How many payments (transfers, purchases: actions that move money) the words ask for,
    one per verb that asks for one; None: several or an open number ("pay the bills"); 0: no
    such verb (the count limits nothing)."""

    @staticmethod
    def of(text: str) -> Intent:
        return Intent().adding(text)

    def adding(self, text: str) -> Intent:
        """The intent once the person also said `text`."""
        plain = _NOT_ME.sub(" ", text)
        found = {
            effect
            for effect, words in _VERBS.items()
            if any(used_as_verb(plain, m.start(), m.end()) for m in words.finditer(plain))
        }
        if _mail_verb(plain):
            found.add(Effect.SEND)
        if _reads_the_web(plain):
            found.add(Effect.NAVIGATE)
        joined = f"{self.text}\n{text}" if self.text else text
        more = _payments(plain)
        payments = None if self.payments is None or more is None else self.payments + more
        return Intent(self.verbs | found, joined, payments)

    def beyond(self, made: int) -> str | None:
        """Why one more payment, after `made`, is more than the words ask for; None if not."""
        if self.payments is None or self.payments == 0 or made < self.payments:
            return None
        asked = "one payment" if self.payments == 1 else f"{self.payments} payments"
        done = "it was made" if made == 1 else f"{made} were made"
        return f"your request asks for {asked}, and {done} already"

    def states(self, effect: Effect, tool: str = "", *, moves_money: bool = False) -> bool:
        """Whether the person asked for an action of `effect` (by tool `tool`); an action
        that `moves_money` (a transfer declared as a send) is also stated by "pay", "refund"…"""
        neighbours = _NEIGHBOURS.get(effect, frozenset())
        if moves_money:
            neighbours |= {Effect.PURCHASE}
        if effect is Effect.DELETE and _OVERWRITES & _name_words(tool):
            neighbours |= _NEIGHBOURS[Effect.UPDATE]
        if not self.verbs & neighbours:
            return False
        return self.unnamed(tool) is None

    def unnamed(self, tool: str) -> str | None:
        """What `tool` changes that the person's words never name (`password`), if anything."""
        for name, words, what in _GUARDED:
            if name.search(tool) and not words.search(self.text):
                return what
        return None
