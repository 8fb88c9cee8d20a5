"""The audit log: append-only, hash-chained, with Ed25519-signed checkpoints witnessed outside
valet's home; verify and export.

- `AuditLog` (`open`, `read`, `append`, `checkpoint`, `close`, `records`, `verify`,
  `export_jsonl`).
- `AuditEntry` (what is appended) and `AuditRecord` (what is stored), `Actor`, `Outcome`.
- `VerifyReport` / `Problem` / `WitnessCheck`: what `verify()` found and could not check.
- `Head` (a signed checkpoint), `Witness` (`FileWitness`, `WebhookWitness`, `DatabaseWitness`,
  `MailWitness`, `witness_from`), `AuditSettings` (the `[audit]` table of `config.toml`).
- Keys: `load_signing_key`; `fingerprint`, `parse_fingerprint`, `write_pin`, `read_pin` for the
  pinned public key.
- `redact`, `redact_text`, `digest`, `canonical_json`; `Redactor` (shapes + exact secret
  values, used by every writer); `RedactingFilter` and `LogRedaction` (logs).

Errors: `AuditKeyError` and `AuditConfigError` (both `ConfigError`), `WitnessError`
(`ValetError`: a witness cannot be written or read).
"""

from valet.audit._head import Head
from valet.audit._keys import (
    KEY_ENV,
    AuditKeyError,
    fingerprint,
    load_signing_key,
    parse_fingerprint,
    read_pin,
    write_pin,
)
from valet.audit._log import AuditLog
from valet.audit._mail_witness import MailToolset, MailWitness
from valet.audit._record import GENESIS, Actor, AuditEntry, AuditRecord, Outcome
from valet.audit._redact import (
    REDACTED,
    LogRedaction,
    RedactingFilter,
    Redactor,
    canonical_json,
    digest,
    mask_cards,
    redact,
    redact_text,
)
from valet.audit._settings import AuditConfigError, AuditSettings, witness_from
from valet.audit._verify import Problem, ProblemKind, VerifyReport, WitnessCheck
from valet.audit._witness import (
    DatabaseWitness,
    FileWitness,
    WebhookWitness,
    Witness,
    WitnessError,
)

__all__ = [
    "GENESIS",
    "KEY_ENV",
    "REDACTED",
    "Actor",
    "AuditConfigError",
    "AuditEntry",
    "AuditKeyError",
    "AuditLog",
    "AuditRecord",
    "AuditSettings",
    "DatabaseWitness",
    "FileWitness",
    "Head",
    "LogRedaction",
    "MailToolset",
    "MailWitness",
    "Outcome",
    "Problem",
    "ProblemKind",
    "RedactingFilter",
    "Redactor",
    "VerifyReport",
    "WebhookWitness",
    "Witness",
    "WitnessCheck",
    "WitnessError",
    "canonical_json",
    "digest",
    "fingerprint",
    "load_signing_key",
    "mask_cards",
    "parse_fingerprint",
    "read_pin",
    "redact",
    "redact_text",
    "witness_from",
    "write_pin",
]
