"""A connector account's tokens (OAuth2 access and refresh tokens), kept in the vault.

Tokens are never filled into pages: only valet's connectors read them, through the account
they belong to. Like every vault value they are encrypted at rest and hidden from records.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from valet.vault._credential import NAME_PATTERN


class Token(BaseModel):
    """The OAuth2 tokens of one connector account (named like the account)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    """The account's name (`github`, `work_mail`)."""
    access_token: SecretStr
    refresh_token: SecretStr | None = None
    token_type: str = "Bearer"
    expires_at: float | None = None
    """When the access token expires (Unix time); `None` when the server did not say."""
    scopes: tuple[str, ...] = ()
    """The scopes the server granted."""
    subject: str = ""
    """Who signed in, as the provider's OpenID `id_token` named them (empty without one)."""

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        """Whether the access token expires in less than `seconds` (never when unknown)."""
        if self.expires_at is None:
            return False
        return self.expires_at - (time.time() if now is None else now) < seconds

    def secret_values(self) -> list[str]:
        values = [self.access_token.get_secret_value()]
        if self.refresh_token is not None:
            values.append(self.refresh_token.get_secret_value())
        return [v for v in values if v]

    def plain(self) -> dict[str, object]:
        """The token as JSON data, secrets included (only for the encrypted vault file)."""
        refresh = self.refresh_token
        return {
            "name": self.name,
            "access_token": self.access_token.get_secret_value(),
            "refresh_token": None if refresh is None else refresh.get_secret_value(),
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "scopes": list(self.scopes),
            "subject": self.subject,
        }
