"""Whether a word that names an action is used, in the person's words, to ask for it.

Many of the words `Intent` looks for are nouns as often as verbs, and a request often tells
what someone already did before it says what to do: in "update my rent standing order" only
"update" asks for something ("rent" and "order" name things), and in "send Bob the link
Charlie shared" only "send" does ("shared" tells what Charlie did). Read as verbs, such words
would state actions nobody asked for (a payment, a share) that a page or a mail could then
slip in. The tests are plain word shapes, no grammar:

- a noun: after an article, a possessive or a demonstrative ("the transfer", "my rent",
  "Lily's reply"), or after a participle used as an adjective when nothing follows it as an
  object ("standing order.", "the scheduled transfer");
- a description: a past form right after who did it ("Charlie shared", "I paid"), unless the
  person asks for that state ("I want Bob invited").
"""

from __future__ import annotations

import re

_DETERMINERS = frozenset(
    {
        *("the", "a", "an", "my", "your", "his", "our", "their", "its", "whose"),
        *("this", "these", "those", "each", "every", "any", "some", "no", "another", "same"),
    }
)
"""Words after which an action word is a noun ("her" and "that" are left out: "send her the
file", "check that pay day…")."""

_SUBJECTS = frozenset(
    {"i", "you", "he", "she", "we", "they", "who", "someone", "somebody", "everyone", "everybody"}
)
_CAUSATIVE = frozenset(
    {
        *("want", "wants", "like", "need", "needs", "get", "gets", "have", "has", "make"),
        *("makes", "let", "keep", "see"),
    }
)
"""Verbs after which "<name> <past form>" asks for that state ("I want Bob invited")."""

_IRREGULAR_PAST = frozenset({"sent", "bought", "made", "wrote", "rewrote", "rewritten", "paid"})
_NOT_ADJECTIVES = frozenset(
    {
        *("thing", "something", "anything", "everything", "nothing", "morning", "evening"),
        *("need", "indeed", "proceed", "succeed", "exceed", "speed"),
    }
)
"""Words ending like a participle that are not one."""

_NO_OBJECT = re.compile(
    r"\s*(?:$|[.,;:!?)\]]|(?:and|or|but|is|are|was|were|has|had|will|would|should|can|could|"
    r"that|which|with|from|of|for|in|on|at)(?![\w\-]))",
    re.IGNORECASE,
)
"""What follows a word used as a noun: the end of a clause, a conjunction, a verb, a
preposition (not an object: "standing order." vs "pending, send it")."""

_WORD_BEFORE = re.compile(r"([\w’'\-]+)([^\w’'\-]*)$")


def used_as_verb(text: str, start: int, end: int) -> bool:
    """Whether the action word at `text[start:end]` asks for the action (see the module)."""
    word = text[start:end].casefold()
    previous, between = _before(text, start)
    if previous is None or _clause_break(between):
        return True
    folded = previous.casefold()
    if folded in _DETERMINERS or folded.endswith(("'s", "’s")):
        return False
    if _past(word) and (folded in _SUBJECTS or _is_name(text, start, previous, between)):
        return False
    participle = folded.endswith(("ing", "ed")) and folded not in _NOT_ADJECTIVES
    return not (participle and _NO_OBJECT.match(text, end))


def _before(text: str, start: int) -> tuple[str | None, str]:
    """The word before `start` and what separates it from `start`."""
    match = _WORD_BEFORE.search(text, 0, start)
    if match is None:
        return None, text[:start]
    return match.group(1), match.group(2)


def _clause_break(between: str) -> bool:
    return any(c in between for c in '.,;:!?()\n"“”')


def _past(word: str) -> bool:
    return word.endswith("ed") or word in _IRREGULAR_PAST


def _is_name(text: str, start: int, previous: str, between: str) -> bool:
    """`previous` is a capitalised name doing the action, not the object of a verb that asks
    for a state ("I want Bob invited")."""
    if not previous[:1].isupper():
        return False
    before, gap = _before(text, start - len(between) - len(previous))
    return before is None or _clause_break(gap) or before.casefold() not in _CAUSATIVE
