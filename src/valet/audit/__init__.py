"""The audit log: append-only, hash-chained, with Ed25519-signed checkpoints; verify and export.

- `AuditLog` (`open`, `append`, `checkpoint`, `close`, `records`, `verify`, `export_jsonl`).
- `AuditEntry` (what is appended) and `AuditRecord` (what is stored), `Actor`, `Outcome`.
- `VerifyReport` / `Problem`: what `verify()` found.
- `load_signing_key`, `redact`, `redact_text`, `digest`, `canonical_json`.
- `Redactor` (shapes + exact secret values, used by every writer); `RedactingFilter` and
  `LogRedaction` (logs).
"""

from valet.audit._keys import KEY_ENV, AuditKeyError, load_signing_key
from valet.audit._log import AuditLog
from valet.audit._record import GENESIS, Actor, AuditEntry, AuditRecord, Outcome
from valet.audit._redact import (
    REDACTED,
    LogRedaction,
    RedactingFilter,
    Redactor,
    canonical_json,
    digest,
    redact,
    redact_text,
)
from valet.audit._verify import Problem, ProblemKind, VerifyReport

__all__ = [
    "GENESIS",
    "KEY_ENV",
    "REDACTED",
    "Actor",
    "AuditEntry",
    "AuditKeyError",
    "AuditLog",
    "AuditRecord",
    "LogRedaction",
    "Outcome",
    "Problem",
    "ProblemKind",
    "RedactingFilter",
    "Redactor",
    "VerifyReport",
    "canonical_json",
    "digest",
    "load_signing_key",
    "redact",
    "redact_text",
]
