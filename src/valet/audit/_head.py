"""A signed checkpoint head: (record number, record hash, time, public key, signature).

The same five fields are stored in the log's `checkpoints` table and sent to witnesses. The
signature is Ed25519 over the canonical JSON of the first four; the public key travels with it,
and a verifier decides which key to trust (the pinned one), never the head itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from valet.audit._keys import public_hex
from valet.audit._record import now_iso
from valet.audit._redact import canonical_json


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    """The number of the last record signed."""
    hash: str
    """That record's hash (which chains every record before it)."""
    time: str
    public_key: str
    """The signer's Ed25519 public key, hex."""
    signature: str
    """Hex Ed25519 signature over `payload()`."""

    @classmethod
    def sign(cls, key: Ed25519PrivateKey, seq: int, hash_: str) -> Head:
        unsigned = cls(seq, hash_, now_iso(), public_hex(key.public_key()), "")
        return cls(
            seq, hash_, unsigned.time, unsigned.public_key, key.sign(unsigned.payload()).hex()
        )

    def payload(self) -> bytes:
        body = {
            "record_seq": self.seq,
            "record_hash": self.hash,
            "time": self.time,
            "public_key": self.public_key,
        }
        return canonical_json(body).encode("utf-8")

    def signed_by(self, key: Ed25519PublicKey) -> bool:
        """Whether `key` made this head (and named itself as the signer)."""
        if self.public_key != public_hex(key):
            return False
        try:
            key.verify(bytes.fromhex(self.signature), self.payload())
        except (InvalidSignature, ValueError):
            return False
        return True

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Head:
        """A head from its JSON object; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("a head is a JSON object")
        fields: dict[str, object] = {str(k): v for k, v in data.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        seq = fields.get("seq")
        texts = [fields.get(name) for name in ("hash", "time", "public_key", "signature")]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError("a head's seq is a positive integer")
        if not all(isinstance(text, str) for text in texts):
            raise ValueError("a head has hash, time, public_key and signature strings")
        hash_, time, public, signature = (str(text) for text in texts)
        return cls(seq, hash_, time, public, signature)
