"""People, organizations, roles, personal API tokens and invitations, in valet's database.

Passwords are kept as argon2id hashes; API tokens and invitation secrets are random (256 and
192 bits) and only their SHA-256 digests are stored, so a copy of the database signs nobody in.
Every check of a secret takes the same path whether or not its holder exists.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from valet.store._columns import Tables
from valet.store._people_tables import (
    FAILURE_WINDOW,
    MAX_ADDRESS_FAILURES,
    MAX_FAILURES,
    SSO_LIFETIME,
    failures,
    invitations,
    members,
    orgs,
    owned_rules,
    people,
    sso_pending,
    tokens,
)
from valet.store._people_tables import meta as people_meta

Role = Literal["owner", "admin", "member"]
ROLES: tuple[Role, ...] = get_args(Role)
"""owner: everything an admin may, and the organization itself; admin: people, plans, controls,
the organization's usage and audit (never a secret); member: their own tasks and accounts."""

Scope = Literal["read", "write", "admin"]
SCOPES: dict[Scope, str] = {
    "read": "read your tasks, runs, requests and usage",
    "write": "start, steer and answer your tasks (includes read)",
    "admin": "what your role lets you administer (includes read and write)",
}
TOKEN_PREFIX = "valet_pat_"
MIN_PASSWORD = 10
INVITATION_LIFETIME = timedelta(days=7)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()


@functools.cache
def _nobody() -> str:
    """Verified against when no one has the address given, so a miss costs what a hit costs.
    Made once per process, at the start of its first sign-in check, whoever signs in (not at
    import: every valet command would pay a password hash)."""
    return _hasher.hash(secrets.token_urlsafe(16))


class PeopleError(ValueError):
    """A request about people that cannot be done as asked (the message says why)."""


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    name: str
    disabled: bool
    created_at: str

    @property
    def handle(self) -> str:
        """How the audit log names them: the part of the address before the @."""
        return self.email.split("@", 1)[0]


@dataclass(frozen=True)
class Org:
    id: str
    name: str
    timezone: str
    created_at: str


@dataclass(frozen=True)
class Membership:
    org: Org
    person: Person
    role: Role

    @property
    def admin(self) -> bool:
        return self.role in ("owner", "admin")


@dataclass(frozen=True)
class ApiToken:
    """A personal API token as listed (its secret is shown once, when made)."""

    id: str
    person: str
    name: str
    scopes: tuple[Scope, ...]
    created_at: str
    expires_at: str | None
    last_used_at: str | None

    def allows(self, scope: Scope) -> bool:
        """write includes read; admin includes both."""
        rank = {"read": 0, "write": 1, "admin": 2}
        return any(rank[s] >= rank[scope] for s in self.scopes)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_id() -> str:
    return secrets.token_hex(8)


def normal_email(email: str) -> str:
    """The address as stored and compared: trimmed, lower case; PeopleError when malformed."""
    shown = email.strip().lower()
    if not _EMAIL.match(shown) or len(shown) > 320:
        raise PeopleError(f"{email!r} is not an e-mail address")
    return shown


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PeopleError(f"a password needs at least {MIN_PASSWORD} characters")


def parse_scopes(scopes: str | list[str] | tuple[str, ...]) -> tuple[Scope, ...]:
    """`"read write"` or `["read"]` → the scopes; PeopleError naming an unknown one."""
    given = scopes.replace(",", " ").split() if isinstance(scopes, str) else list(scopes)
    if not given:
        raise PeopleError("a token needs at least one scope: " + ", ".join(SCOPES))
    for scope in given:
        if scope not in SCOPES:
            raise PeopleError(f"there is no scope {scope!r}: choose " + ", ".join(SCOPES))
    return tuple(dict.fromkeys(s for s in SCOPES if s in given))


class People(Tables):
    """The people of one valet install in `url` (the server's own database). Tables are
    created on first use. A write that fails raises `StoreUnavailable`; a request that
    cannot be done (an address taken, the last owner removed…) raises `PeopleError`."""

    meta = people_meta
    passes = (PeopleError, IntegrityError)

    def _now(self) -> str:
        return self._clock().isoformat()

    # organizations ---------------------------------------------------------------------------

    def create_org(self, name: str, timezone: str = "UTC") -> Org:
        shown = name.strip()
        if not shown:
            raise PeopleError("an organization needs a name")
        org = Org(_new_id(), shown, timezone, self._now())
        try:
            with self._writing("the organization") as db:
                db.execute(orgs.insert().values(**vars(org)))
        except IntegrityError as exc:
            raise PeopleError(f"there is already an organization named {shown!r}") from exc
        return org

    def orgs(self) -> list[Org]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(orgs).order_by(orgs.c.name)).mappings().all()
        return [Org(**row) for row in rows]

    def org(self, name_or_id: str) -> Org:
        query = sa.select(orgs).where((orgs.c.id == name_or_id) | (orgs.c.name == name_or_id))
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        if row is None:
            raise PeopleError(f"there is no organization {name_or_id!r}")
        return Org(**row)

    # people ----------------------------------------------------------------------------------

    def add_person(self, email: str, name: str = "", password: str | None = None) -> Person:
        address = normal_email(email)
        if password is not None:
            check_password(password)
        person = Person(_new_id(), address, name.strip() or address.split("@")[0], False, "")
        values: dict[str, Any] = {
            "id": person.id,
            "email": address,
            "name": person.name,
            "password": None if password is None else _hasher.hash(password),
            "created_at": self._now(),
        }
        try:
            with self._writing("the person") as db:
                db.execute(people.insert().values(**values))
        except IntegrityError as exc:
            raise PeopleError(f"{address} already has an account") from exc
        return self.person(person.id)

    def person(self, person_id: str) -> Person:
        return self._one(people.c.id == person_id, person_id)

    def find(self, email: str) -> Person:
        address = normal_email(email)
        return self._one(people.c.email == address, address)

    def _one(self, where: sa.ColumnElement[bool], shown: str) -> Person:
        query = sa.select(
            people.c.id, people.c.email, people.c.name, people.c.disabled, people.c.created_at
        ).where(where)
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        if row is None:
            raise PeopleError(f"there is no one with the account {shown!r}")
        return Person(**row)

    def everyone(self) -> list[Person]:
        query = sa.select(
            people.c.id, people.c.email, people.c.name, people.c.disabled, people.c.created_at
        ).order_by(people.c.email)
        with self.engine.connect() as db:
            return [Person(**row) for row in db.execute(query).mappings().all()]

    def set_password(self, email: str, password: str) -> None:
        check_password(password)
        person = self.find(email)
        with self._writing("the password") as db:
            db.execute(
                people.update()
                .where(people.c.id == person.id)
                .values(password=_hasher.hash(password))
            )

    def set_disabled(self, email: str, disabled: bool) -> Person:
        """A disabled person cannot sign in; their sessions and tokens stop working."""
        person = self.find(email)
        with self._writing("the account") as db:
            db.execute(people.update().where(people.c.id == person.id).values(disabled=disabled))
        return self.person(person.id)

    def locked(self, email: str, client: str = "") -> timedelta | None:
        """How long until `email` may try a password again from `client` (its IP address;
        None: now). `MAX_FAILURES` failed sign-ins from that client within `FAILURE_WINDOW`
        make it wait; `MAX_ADDRESS_FAILURES` from anywhere make everyone wait."""
        address = email.strip().lower()
        since = self._clock() - FAILURE_WINDOW
        query = (
            sa.select(failures.c.at, failures.c.client)
            .where((failures.c.email == address) & (failures.c.at >= since.isoformat()))
            .order_by(failures.c.at)
        )
        with self.engine.connect() as db:
            found = [(str(at), str(who)) for at, who in db.execute(query).all()]
        waits = [
            self._wait([at for at, who in found if who == client], MAX_FAILURES),
            self._wait([at for at, _ in found], MAX_ADDRESS_FAILURES),
        ]
        return max((w for w in waits if w is not None), default=None)

    def _wait(self, times: list[str], most: int) -> timedelta | None:
        if len(times) < most:
            return None
        oldest = datetime.fromisoformat(times[-most])
        return max(oldest + FAILURE_WINDOW - self._clock(), timedelta(seconds=1))

    def failed(self, email: str, client: str = "") -> None:
        """Count a failed password sign-in for `email` from `client`."""
        now = self._clock()
        with self._writing("the failed sign-in") as db:
            old = (now - FAILURE_WINDOW).isoformat()
            db.execute(failures.delete().where(failures.c.at < old))
            row = {"email": email.strip().lower(), "at": now.isoformat(), "client": client[:64]}
            db.execute(failures.insert().values(**row))

    def authenticate(self, email: str, password: str) -> Person | None:
        """The person with this address and password, else None (unknown address, wrong
        password, no password set, disabled: the caller cannot tell which, nor by timing)."""
        nobody = _nobody()
        try:
            address = normal_email(email)
        except PeopleError:
            address = ""
        query = sa.select(people.c.id, people.c.password, people.c.disabled).where(
            people.c.email == address
        )
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        stored = str(row["password"]) if row is not None and row["password"] else nobody
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or stored is nobody or row["disabled"]:
            return None
        if _hasher.check_needs_rehash(stored):
            with self._writing("the password") as db:
                db.execute(
                    people.update()
                    .where(people.c.id == row["id"])
                    .values(password=_hasher.hash(password))
                )
        return self.person(str(row["id"]))

    # memberships -----------------------------------------------------------------------------

    def add_member(self, org_id: str, person_id: str, role: Role = "member") -> Membership:
        if role not in ROLES:
            raise PeopleError(f"there is no role {role!r}: choose " + ", ".join(ROLES))
        org, person = self.org(org_id), self.person(person_id)
        with self._writing("the membership") as db:
            if role != "owner":
                self._keep_an_owner(db, org.id, person.id)
            db.execute(
                members.delete().where((members.c.org == org.id) & (members.c.person == person.id))
            )
            db.execute(
                members.insert().values(org=org.id, person=person.id, role=role, since=self._now())
            )
        return Membership(org, person, role)

    def remove_member(self, org_id: str, person_id: str) -> None:
        org = self.org(org_id)
        with self._writing("the membership") as db:
            self._keep_an_owner(db, org.id, person_id)
            gone = db.execute(
                members.delete().where((members.c.org == org.id) & (members.c.person == person_id))
            )
            if gone.rowcount != 1:
                raise PeopleError(f"{person_id} is not a member of {org.name}")

    def _keep_an_owner(self, db: sa.Connection, org: str, leaving: str) -> None:
        owners = db.execute(
            sa.select(members.c.person).where((members.c.org == org) & (members.c.role == "owner"))
        ).all()
        if [row[0] for row in owners] == [leaving]:
            raise PeopleError("an organization keeps at least one owner: make another first")

    def memberships(self, person_id: str) -> list[Membership]:
        return self._memberships(members.c.person == person_id)

    def members(self, org_id: str) -> list[Membership]:
        return self._memberships(members.c.org == self.org(org_id).id)

    def membership(self, person_id: str) -> Membership | None:
        """The person's organization (valet puts each person in at most one)."""
        found = self.memberships(person_id)
        return found[0] if found else None

    def _memberships(self, where: sa.ColumnElement[bool]) -> list[Membership]:
        query = (
            sa.select(
                members.c.role,
                orgs.c.id.label("org_id"),
                orgs.c.name.label("org_name"),
                orgs.c.timezone,
                orgs.c.created_at.label("org_created"),
                people.c.id.label("person_id"),
                people.c.email,
                people.c.name.label("person_name"),
                people.c.disabled,
                people.c.created_at.label("person_created"),
            )
            .select_from(
                members.join(orgs, orgs.c.id == members.c.org).join(
                    people, people.c.id == members.c.person
                )
            )
            .where(where)
            .order_by(people.c.email)
        )
        with self.engine.connect() as db:
            rows = db.execute(query).mappings().all()
        return [
            Membership(
                Org(r["org_id"], r["org_name"], r["timezone"], r["org_created"]),
                Person(
                    r["person_id"], r["email"], r["person_name"], r["disabled"], r["person_created"]
                ),
                r["role"],
            )
            for r in rows
        ]

    # API tokens ------------------------------------------------------------------------------

    def new_token(
        self,
        person_id: str,
        name: str,
        scopes: tuple[Scope, ...] | str,
        lifetime: timedelta | None = timedelta(days=90),
    ) -> tuple[ApiToken, str]:
        """A personal API token and its secret (shown once; only its digest is kept)."""
        chosen = parse_scopes(scopes) if isinstance(scopes, str) else parse_scopes(list(scopes))
        person = self.person(person_id)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        token = ApiToken(
            id=_new_id(),
            person=person.id,
            name=name.strip() or "token",
            scopes=chosen,
            created_at=now.isoformat(),
            expires_at=None if lifetime is None else (now + lifetime).isoformat(),
            last_used_at=None,
        )
        with self._writing("the token") as db:
            db.execute(
                tokens.insert().values(
                    digest=_digest(secret),
                    id=token.id,
                    person=token.person,
                    name=token.name,
                    scopes=" ".join(token.scopes),
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                )
            )
        return token, secret

    def check_token(self, secret: str) -> ApiToken | None:
        """The live token with this secret (its person not disabled), else None."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        now = self._now()
        query = (
            sa.select(tokens)
            .join(people, people.c.id == tokens.c.person)
            .where(
                (tokens.c.digest == _digest(secret))
                & ((tokens.c.expires_at.is_(None)) | (tokens.c.expires_at >= now))
                & people.c.disabled.is_(False)
            )
        )
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        if row is None:
            return None
        last = row["last_used_at"]
        if last is None or self._clock() - datetime.fromisoformat(str(last)) > timedelta(minutes=5):
            with self._writing("the token's last use") as db:
                db.execute(tokens.update().where(tokens.c.id == row["id"]).values(last_used_at=now))
        return _token(dict(row))

    def tokens(self, person_id: str) -> list[ApiToken]:
        query = sa.select(tokens).where(tokens.c.person == person_id).order_by(tokens.c.created_at)
        with self.engine.connect() as db:
            return [_token(dict(row)) for row in db.execute(query).mappings().all()]

    def revoke_token(self, person_id: str, token_id: str) -> bool:
        """End one of the person's tokens; False when they have none with that id."""
        with self._writing("the token's end") as db:
            gone = db.execute(
                tokens.delete().where((tokens.c.id == token_id) & (tokens.c.person == person_id))
            )
        return gone.rowcount == 1

    # rules of an organization, or of a person --------------------------------------------------

    def rules_of(self, owner: str) -> dict[str, Any]:
        """The rules of `org:<id>` or `person:<id>` as data (`{"rules": [...]}`; none set: no
        rules)."""
        query = sa.select(owned_rules.c.rules).where(owned_rules.c.owner == owner)
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return {"rules": []} if row is None else json.loads(str(row[0]))

    def set_rules(self, owner: str, rules: dict[str, Any], by: str) -> None:
        """Replace the rules of `org:<id>` or `person:<id>` (`by`: who, a person's id)."""
        kind, _, key = owner.partition(":")
        if kind == "org":
            self.org(key)
        elif kind == "person":
            self.person(key)
        else:
            raise PeopleError(f"rules belong to an org: or a person:, not {owner!r}")
        values = {"rules": json.dumps(rules), "updated_at": self._now(), "updated_by": by}
        with self._writing("the rules") as db:
            where = owned_rules.c.owner == owner
            changed = db.execute(owned_rules.update().where(where).values(**values))
            if changed.rowcount == 0:
                db.execute(owned_rules.insert().values(owner=owner, **values))

    # single sign-on --------------------------------------------------------------------------

    def begin_sso(self, next_path: str) -> tuple[str, PendingSso]:
        """A new sign-on: its `state` (sent to the provider) and what its return must match."""
        state = secrets.token_urlsafe(32)
        pending = PendingSso(secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_path)
        now = self._clock()
        with self._writing("the sign-on") as db:
            db.execute(sso_pending.delete().where(sso_pending.c.expires_at < now.isoformat()))
            db.execute(
                sso_pending.insert().values(
                    digest=_digest(state),
                    nonce=pending.nonce,
                    verifier=pending.verifier,
                    next=next_path,
                    expires_at=(now + SSO_LIFETIME).isoformat(),
                )
            )
        return state, pending

    def take_sso(self, state: str) -> PendingSso | None:
        """The pending sign-on with this `state`, once (None: unknown, used or expired)."""
        where = (sso_pending.c.digest == _digest(state)) & (sso_pending.c.expires_at >= self._now())
        with self._writing("the sign-on's return") as db:
            row = db.execute(sa.select(sso_pending).where(where)).mappings().first()
            if row is None or db.execute(sso_pending.delete().where(where)).rowcount != 1:
                return None
        return PendingSso(str(row["nonce"]), str(row["verifier"]), str(row["next"]))

    def sso_person(
        self,
        issuer: str,
        subject: str,
        email: str | None,
        verified: bool,
        name: str = "",
        join: str | None = None,
    ) -> Person:
        """The person a provider vouched for: the account already linked to (issuer,
        subject); else the account with that address, if the provider verified it (the link is
        kept); else, with `join`, a new account in that organization (a member). PeopleError
        when none of these holds."""
        linked = (people.c.issuer == issuer) & (people.c.subject == subject)
        with self.engine.connect() as db:
            found = db.execute(sa.select(people.c.id).where(linked)).first()
        if found is not None:
            return self.person(str(found[0]))
        if not email or not verified:
            raise PeopleError(
                "the identity provider did not vouch for an e-mail address (email_verified): "
                "ask an admin to add you"
            )
        address = normal_email(email)
        try:
            person = self.find(address)
        except PeopleError:
            if join is None:
                raise PeopleError(
                    f"{address} has no account on this valet: ask an admin to invite you"
                ) from None
            person = self.add_person(address, name)
            self.add_member(self.org(join).id, person.id, "member")
        with self._writing("the sign-on's link") as db:
            before = db.execute(
                sa.select(people.c.issuer, people.c.subject).where(people.c.id == person.id)
            ).first()
            if before is not None and before[0] == issuer and before[1] not in (None, subject):
                raise PeopleError(
                    f"{address} is linked to another identity at this provider: ask an admin"
                )
            db.execute(
                people.update()
                .where(people.c.id == person.id)
                .values(issuer=issuer, subject=subject)
            )
        return person

    # invitations -----------------------------------------------------------------------------

    def invite(self, org_id: str, email: str, role: Role, invited_by: str) -> str:
        """A one-time invitation secret for `email` to join the organization (7 days)."""
        if role not in ROLES:
            raise PeopleError(f"there is no role {role!r}: choose " + ", ".join(ROLES))
        org, address = self.org(org_id), normal_email(email)
        secret = secrets.token_urlsafe(24)
        with self._writing("the invitation") as db:
            db.execute(
                invitations.insert().values(
                    digest=_digest(secret),
                    org=org.id,
                    email=address,
                    role=role,
                    invited_by=invited_by,
                    expires_at=(self._clock() + INVITATION_LIFETIME).isoformat(),
                )
            )
        return secret

    def invitation(self, secret: str) -> tuple[Org, str, Role] | None:
        """The organization, address and role an unexpired invitation is for, else None."""
        query = sa.select(invitations).where(
            (invitations.c.digest == _digest(secret)) & (invitations.c.expires_at >= self._now())
        )
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        if row is None:
            return None
        return self.org(str(row["org"])), str(row["email"]), row["role"]

    def accept(self, secret: str, name: str, password: str) -> Membership:
        """Spend an invitation: the invited address gets an account (or, already one, keeps
        its password) and joins the organization. PeopleError when it is spent or expired."""
        check_password(password)
        found = self.invitation(secret)
        if found is None:
            raise PeopleError("this invitation was used or has expired: ask for a new one")
        org, address, role = found
        with self._writing("the invitation's use") as db:
            spent = db.execute(invitations.delete().where(invitations.c.digest == _digest(secret)))
        if spent.rowcount != 1:
            raise PeopleError("this invitation was used or has expired: ask for a new one")
        try:
            person = self.find(address)
        except PeopleError:
            person = self.add_person(address, name, password)
        return self.add_member(org.id, person.id, role)


@dataclass(frozen=True)
class PendingSso:
    """What a single sign-on's return must match (its nonce, its PKCE verifier), and where
    the person was going."""

    nonce: str
    verifier: str
    next: str


def _token(row: dict[str, Any]) -> ApiToken:
    return ApiToken(
        id=str(row["id"]),
        person=str(row["person"]),
        name=str(row["name"]),
        scopes=tuple(row["scopes"].split()),
        created_at=str(row["created_at"]),
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
    )
