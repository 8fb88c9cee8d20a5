"""A research task: the question, wrapped in the research brief, with the research toolset."""

from __future__ import annotations

from collections.abc import Sequence

from valet.agent import load_prompt
from valet.connectors import ToolsetConfig

RESEARCH_TOOLSET = "research"


def research_brief(question: str) -> str:
    """The task the model is given: the question and how to research it."""
    return load_prompt("research.md").format(question=question.strip())


def question_of(request: str) -> str:
    """The question of a research task's text (`research_brief`'s), or the text itself."""
    head, _, tail = load_prompt("research.md").partition("{question}")
    if request.startswith(head) and tail and request.endswith(tail):
        return request[len(head) : len(request) - len(tail)].strip()
    return request.strip()


def research_toolset(
    configured: Sequence[ToolsetConfig], **settings: object
) -> tuple[ToolsetConfig, ...]:
    """The task's toolsets: those configured, with a research toolset (`settings` when none is
    configured; a configured one keeps its own settings)."""
    if any(t.connector == RESEARCH_TOOLSET for t in configured):
        return tuple(configured)
    given = {k: v for k, v in settings.items() if v is not None}
    made = ToolsetConfig(name=RESEARCH_TOOLSET, connector=RESEARCH_TOOLSET, settings=given)
    return (*configured, made)
