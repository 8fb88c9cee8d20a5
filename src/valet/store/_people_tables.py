"""The tables of people, organizations, memberships, API tokens, invitations, pending single
sign-ons, failed sign-ins and owned rules (see `valet.store._people` for what is done with
them)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

meta = sa.MetaData()

orgs = sa.Table(
    "valet_orgs",
    meta,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

people = sa.Table(
    "valet_people",
    meta,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password", sa.String(200)),
    sa.Column("issuer", sa.String(500)),
    sa.Column("subject", sa.String(255)),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("issuer", "subject"),
)

members = sa.Table(
    "valet_members",
    meta,
    sa.Column("org", sa.String(16), sa.ForeignKey("valet_orgs.id"), primary_key=True),
    sa.Column("person", sa.String(16), sa.ForeignKey("valet_people.id"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("since", sa.String(40), nullable=False),
)

tokens = sa.Table(
    "valet_api_tokens",
    meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(16), nullable=False, unique=True),
    sa.Column("person", sa.String(16), sa.ForeignKey("valet_people.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scopes", sa.String(100), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40)),
    sa.Column("last_used_at", sa.String(40)),
)

invitations = sa.Table(
    "valet_invitations",
    meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("org", sa.String(16), sa.ForeignKey("valet_orgs.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("invited_by", sa.String(16), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
)


sso_pending = sa.Table(
    "valet_sso_pending",
    meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("verifier", sa.String(128), nullable=False),
    sa.Column("next", sa.String(2000), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
)
"""Single sign-ons started and not yet back: any server sharing the database can finish one."""

SSO_LIFETIME = timedelta(minutes=10)

failures = sa.Table(
    "valet_sign_in_failures",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, index=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("client", sa.String(64), nullable=False, server_default=""),
)
"""Failed password sign-ins, per address and client: too many in a while and they wait."""

MAX_FAILURES = 10
"""Failed sign-ins for one address from one client (its IP address) before that client waits
for the address: someone guessing cannot lock the person out from elsewhere."""
MAX_ADDRESS_FAILURES = 100
"""Failed sign-ins for one address from every client before the address waits for anyone:
guessing spread over many clients is stopped too."""
FAILURE_WINDOW = timedelta(minutes=15)

owned_rules = sa.Table(
    "valet_owned_rules",
    meta,
    sa.Column("owner", sa.String(24), primary_key=True),
    sa.Column("rules", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("updated_by", sa.String(16), nullable=False),
)
"""Rules in valet's rule language (as JSON) of `org:<id>` (they bind every member's task) or
of `person:<id>` (their own limits, on their own tasks)."""
