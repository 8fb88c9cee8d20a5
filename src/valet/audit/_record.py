"""One audit record: who did what, on whose behalf, what was decided and by which rule."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from valet.audit._redact import canonical_json

Actor = Literal["agent", "person", "scheduler", "system"]
Outcome = Literal["executed", "failed", "error", "declined", "denied", "invalid", "recorded"]
"""What happened: ran (`executed`, or `failed` with a readable failure, or `error` when it
raised), was refused (`declined` by the approver, `denied` by a rule), had `invalid` arguments,
or is only a note of something that happened (`recorded`, e.g. a person's rule edit)."""

GENESIS = "0" * 64
"""`prev_hash` of the first record."""


class AuditEntry(BaseModel):
    """What a caller appends. Arguments are stored redacted; results only as a digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: Actor
    on_behalf_of: str
    """The person the action was for (an id or e-mail)."""
    task_id: str = ""
    tool: str
    effect: str
    args: dict[str, object] = Field(default_factory=dict[str, object])
    """Arguments, already redacted (`gateway` redacts; `AuditLog.append` redacts again)."""
    verdict: Literal["allow", "ask", "deny"]
    rule_id: str
    reason: str
    approver: str = ""
    """Who answered an ask (`person:<id>`, `deny-all`, …); empty when nobody was asked."""
    outcome: Outcome
    result_digest: str = ""
    sources: tuple[str, ...] = ()
    """Untrusted sources that influenced the arguments (e.g. `untrusted:read_inbox#1`)."""
    findings: tuple[str, ...] = ()
    """Injection-detector findings in that content."""


class AuditRecord(AuditEntry):
    """A stored entry: numbered, timed, chained to the previous record by hash."""

    seq: int
    time: str
    """UTC, ISO 8601 with microseconds."""
    args_digest: str
    prev_hash: str
    hash: str = ""

    def body(self) -> dict[str, object]:
        """Every field except `hash`, as hashed."""
        return self.model_dump(mode="json", exclude={"hash"})

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.body()).encode("utf-8")).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
