"""The result of checking a log: every problem found, typed, with the record it concerns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ProblemKind = Literal[
    "altered",
    "deleted",
    "inserted",
    "reordered",
    "broken_link",
    "checkpoint_forged",
    "checkpoint_mismatch",
    "truncated",
]
"""`altered`: a record's content no longer matches its hash. `deleted`: a gap in the numbering.
`inserted`: a record the chain skips over. `reordered`: a record links to another out of
order. `broken_link`: a link matches no record. `checkpoint_forged`: a checkpoint whose
signature (or key) is not valet's. `checkpoint_mismatch`: a signed checkpoint names a record
that is not there as signed. `truncated`: records a checkpoint vouches for are missing."""


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    seq: int
    """The record (or, for checkpoint problems, the checkpoint) number concerned."""
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.seq}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    records: int
    checkpoints: int
    last_checkpointed_seq: int
    """Records up to here are vouched for by a valid signature; later ones only by the chain."""
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[ProblemKind]:
        return {problem.kind for problem in self.problems}

    def summary(self) -> str:
        if self.ok:
            return (
                f"ok: {self.records} records, {self.checkpoints} signed checkpoints "
                f"(signed up to record {self.last_checkpointed_seq})"
            )
        lines = [f"{len(self.problems)} problem(s) in {self.records} records:"]
        lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)
