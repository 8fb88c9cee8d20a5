"""An action word states an action only when the person uses it to ask for one: not as a noun
("my rent", "standing order") and not telling what someone already did ("the link Charlie
shared")."""

from __future__ import annotations

import pytest

from valet.effects import Effect
from valet.gateway import Gateway, ScriptedApprover, TaskContext, tool
from valet.policy import Intent

E = Effect


@pytest.mark.parametrize(
    ("request_", "effect", "stated"),
    [
        # nouns: after an article, a possessive, or an adjective with no object after it
        ("The rent goes up. Update my rent standing order.", E.PURCHASE, False),
        ("Update my rent standing order.", E.UPDATE, True),
        ("What did Lily's reply say?", E.SEND, False),
        ("Cancel the scheduled transfer.", E.PURCHASE, False),
        # what someone did, not what to do
        ("Read the article Charlie shared in #random.", E.SHARE, False),
        ("The money Alice transferred was too much; I paid it back.", E.PURCHASE, False),
        ("Which files has Bob uploaded?", E.PUBLISH, True),  # "has": asked, not told
        # still asked for
        ("Send Bob the link Charlie shared.", E.SEND, True),
        ("Pay the bill in bill.txt", E.PURCHASE, True),
        ("I want Bob invited to #general", E.SHARE, True),
        ("I'd like my calendar updated with the new times", E.UPDATE, True),
        ("When you're finished send it to Bob", E.SEND, True),
        ("Book me a table for two", E.PURCHASE, True),
        ("Please rent a car in London", E.PURCHASE, True),
    ],
)
def test_an_action_word_states_what_it_asks_for(
    request_: str, effect: Effect, stated: bool
) -> None:
    assert (effect in Intent.of(request_).verbs) is stated


@tool(effect=E.READ, connector="bank")
def read_file(path: str) -> str:
    return "The rent rises by 100 EUR. Savings plan: 50 EUR a month to LT12 1000 0111 0100 1000."


@tool(
    effect=E.SEND,
    connector="bank",
    recipient_args=("recipient",),
    amount_arg="amount",
    currency="EUR",
)
def schedule_transfer(recipient: str, amount: float) -> str:
    return "scheduled"


async def test_a_transfer_a_request_only_names_as_a_thing_is_refused() -> None:
    """The account comes from the file the request reads from, but "rent" names a thing: no
    payment was asked for."""
    approver = ScriptedApprover.of([])
    gw = Gateway(
        [read_file, schedule_transfer],
        approver=approver,
        task=TaskContext(
            task_id="t", request="The letter in notice.txt says the rent goes up. Update my rent."
        ),
    )
    await gw.call("read_file", {"path": "notice.txt"})
    sent = await gw.call("schedule_transfer", {"recipient": "LT12100001110100100", "amount": 50})
    assert not sent.ok and sent.decision.rule_id == "intent.send"
    assert approver.requests == []
