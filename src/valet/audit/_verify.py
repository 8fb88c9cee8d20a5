"""Checking a log: the chain, the signed checkpoints, and the heads a witness kept; the result
is a `VerifyReport` with every problem found, typed, and what could not be checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from valet.audit._head import Head
from valet.audit._record import GENESIS
from valet.audit._redact import digest

ProblemKind = Literal[
    "altered",
    "deleted",
    "inserted",
    "reordered",
    "broken_link",
    "checkpoint_forged",
    "checkpoint_mismatch",
    "checkpoint_deleted",
    "truncated",
    "witness_mismatch",
    "witness_forged",
    "witness_unreadable",
]
"""`altered`: a record's content no longer matches its hash. `deleted`: a gap in the numbering,
or a witnessed record missing before the log's end. `inserted`: a record the chain skips over.
`reordered`: a record links to another out of order. `broken_link`: a link matches no record.
`checkpoint_forged`: a checkpoint whose signature (or key) is not the verifying key's.
`checkpoint_mismatch`: a signed checkpoint names a record that is not there as signed.
`checkpoint_deleted`: a gap in the checkpoints' numbering, or a head a witness kept that the
log's checkpoints lack. `truncated`: records a checkpoint or a witness vouches for are missing
from the end. `witness_mismatch`: the record a witness saw signed was replaced (the chain was
rewritten and re-signed). `witness_forged`: a witness holds a head the verifying key did not
sign (the log was re-signed with another key, or someone else wrote to the witness).
`witness_unreadable`: a witness could not be read, so nothing was compared with it."""


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    seq: int
    """The record (or, for checkpoint problems, the checkpoint) number concerned."""
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.seq}: {self.detail}"


@dataclass(frozen=True, slots=True)
class WitnessCheck:
    """What one witness held."""

    name: str
    heads: int
    """Heads it holds (all of them, valid or not)."""
    latest_seq: int
    """The last record it holds a valid head for (0: none)."""
    error: str = ""
    """Why it could not be read (then nothing was compared)."""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    records: int
    checkpoints: int
    last_checkpointed_seq: int
    """Records up to here are vouched for by a valid signature; later ones only by the chain."""
    problems: tuple[Problem, ...] = field(default=())
    last_seq: int = 0
    """The last record's number."""
    pinned: bool = False
    """Whether the signatures were checked with a key given by the verifier (a pin), rather
    than the key in valet's home."""
    witnesses: tuple[WitnessCheck, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[ProblemKind]:
        return {problem.kind for problem in self.problems}

    def notes(self) -> list[str]:
        """What this check could not detect, and how far each witness lags."""
        notes: list[str] = []
        if not self.pinned:
            notes.append(
                "the key is not pinned (checked with the key in valet's home): a log re-signed "
                "with a new key passes unless a witness holds the old heads; pin it with "
                "`valet audit pin PATH`, then verify with --key"
            )
        if not self.witnesses:
            notes.append(
                "no witness: truncating the log together with its checkpoints, deleting every "
                "checkpoint, rewriting and re-signing with valet's key, or losing audit.db-wal "
                "would pass unnoticed; configure [audit] witness or pass --witness"
            )
        for witness in self.witnesses:
            if not witness.error and witness.latest_seq < self.last_checkpointed_seq:
                notes.append(
                    f"witness {witness.name} lags: it holds heads up to record "
                    f"{witness.latest_seq}, the log's checkpoints reach record "
                    f"{self.last_checkpointed_seq}; records after {witness.latest_seq} are "
                    "not witnessed (valet logs each head it could not send)"
                )
        if self.last_seq > self.last_checkpointed_seq:
            notes.append(
                f"records {self.last_checkpointed_seq + 1}..{self.last_seq} come after the last "
                "checkpoint: only the chain vouches for them, and removing them from the end "
                "cannot be detected (a running task's records are checkpointed when it ends)"
            )
        return notes

    def summary(self) -> str:
        if self.ok:
            witnessed = "".join(
                f", witness {w.name} up to record {w.latest_seq}" for w in self.witnesses
            )
            lines = [
                f"ok: {self.records} records, {self.checkpoints} signed checkpoints "
                f"(signed up to record {self.last_checkpointed_seq}"
                f"{', pinned key' if self.pinned else ''}{witnessed})"
            ]
        else:
            lines = [f"{len(self.problems)} problem(s) in {self.records} records:"]
            lines.extend(f"  {problem}" for problem in self.problems)
        lines.extend(f"note: {note}" for note in self.notes())
        return "\n".join(lines)


Row = Mapping[str, object]


def check_chain(rows: Sequence[Row]) -> list[Problem]:
    """Each record's own hash, its number and its link to the record before."""
    problems: list[Problem] = []
    index_of_hash = {str(row["hash"]): i for i, row in enumerate(rows)}
    for i, row in enumerate(rows):
        seq = int(str(row["seq"]))
        if digest({name: value for name, value in row.items() if name != "hash"}) != row["hash"]:
            problems.append(Problem("altered", seq, "content does not match its hash"))
        expected_seq = 1 if i == 0 else int(str(rows[i - 1]["seq"])) + 1
        if seq > expected_seq:
            problems.append(
                Problem("deleted", expected_seq, f"records {expected_seq}..{seq - 1} are missing")
            )
        expected_prev = GENESIS if i == 0 else str(rows[i - 1]["hash"])
        prev = str(row["prev_hash"])
        if prev == expected_prev:
            continue
        if i >= 2 and prev == rows[i - 2]["hash"]:
            inserted = int(str(rows[i - 1]["seq"]))
            problems.append(Problem("inserted", inserted, "the chain skips over this record"))
        elif prev in index_of_hash:
            other = int(str(rows[index_of_hash[prev]]["seq"]))
            problems.append(Problem("reordered", seq, f"links to record {other}, out of order"))
        elif seq == expected_seq:
            problems.append(Problem("broken_link", seq, "previous-record hash matches no record"))
    return problems


def check_checkpoints(
    checkpoints: Sequence[tuple[int, Head]], hashes: Mapping[int, str], key: Ed25519PublicKey
) -> list[Problem]:
    """Each checkpoint's signature (by `key`) and the record it signed; gaps in their numbers."""
    problems: list[Problem] = []
    last_seq = max(hashes, default=0)
    expected = 1
    for number, head in checkpoints:
        if number > expected:
            gap = f"checkpoints {expected}..{number - 1} are missing"
            problems.append(Problem("checkpoint_deleted", expected, gap))
        expected = number + 1
        if not head.signed_by(key):
            problems.append(Problem("checkpoint_forged", number, "not signed by the audit key"))
            continue
        stored = hashes.get(head.seq)
        if stored is None:
            kind = "truncated" if head.seq > last_seq else "deleted"
            problems.append(
                Problem(kind, head.seq, f"checkpoint {number} signed record {head.seq}")
            )
        elif stored != head.hash:
            detail = f"checkpoint {number} signed another hash"
            problems.append(Problem("checkpoint_mismatch", head.seq, detail))
    return problems


def check_witness(
    name: str,
    heads: Sequence[Head],
    checkpoints: Sequence[tuple[int, Head]],
    hashes: Mapping[int, str],
    key: Ed25519PublicKey,
) -> tuple[WitnessCheck, list[Problem]]:
    """Every head the witness kept must be signed by `key`, be among the log's checkpoints, and
    name a record the log still has, unchanged."""
    problems: list[Problem] = []
    signed = {(head.seq, head.hash) for _, head in checkpoints if head.signed_by(key)}
    last_seq = max(hashes, default=0)
    latest = 0
    for head in heads:
        if not head.signed_by(key):
            detail = (
                f"{name} holds a head for record {head.seq} that the audit key did not sign "
                f"(signed as ed25519:{head.public_key[:16]}…): the log was re-signed with "
                "another key, or someone else wrote to the witness"
            )
            problems.append(Problem("witness_forged", head.seq, detail))
            continue
        latest = max(latest, head.seq)
        stored = hashes.get(head.seq)
        saw = f"{name} saw record {head.seq} signed"
        if stored is None:
            kind = "truncated" if head.seq > last_seq else "deleted"
            problems.append(Problem(kind, head.seq, f"{saw}; the log no longer has it"))
        elif stored != head.hash:
            detail = f"{saw} with another hash: the chain was rewritten (and re-signed)"
            problems.append(Problem("witness_mismatch", head.seq, detail))
        elif (head.seq, head.hash) not in signed:
            detail = f"{saw}; the log's checkpoint for it is gone"
            problems.append(Problem("checkpoint_deleted", head.seq, detail))
    return WitnessCheck(name, len(heads), latest), problems
