"""The vault: encrypted at rest, wrong keys refused, domain binding, TOTP, the CLI, and the
gateway filling placeholders only on bound sites (real Chromium on the local shop)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from valet._home import install_of, person_space
from valet.audit import AuditLog
from valet.browser import BrowserSession, BrowserSettings, ByRole
from valet.gateway import GatedToolbox, Gateway, TaskContext, TaskSecrets
from valet.policy import NavigationSettings, Policy
from valet.sites import SiteServer
from valet.tools import BrowserToolbox, Click, Goto, Type
from valet.vault import (
    KEY_ENV,
    Credential,
    Vault,
    VaultError,
    VaultKeyError,
    binding_matches,
    key_file,
    load_vault_key,
    vault_path,
)

PASSWORD = "correct horse"
RFC6238_SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_ENV, value)
    return value


def shop_credential(*domains: str) -> Credential:
    return Credential(
        name="shop",
        domains=domains,
        username="demo@voltline.test",
        password=SecretStr(PASSWORD),
        totp_seed=SecretStr(RFC6238_SEED),
    )


def test_round_trip_keeps_everything_and_stores_no_plaintext(home: Path, key: str) -> None:
    vault = Vault.open(home, create=True)
    vault.add(shop_credential("shop.example", "*.shop.example"))
    vault.save()
    raw = vault_path(home).read_bytes()
    for secret in (PASSWORD, "demo@voltline.test", RFC6238_SEED, "shop.example"):
        assert secret.encode() not in raw
    assert stat.S_IMODE(vault_path(home).stat().st_mode) == 0o600
    again = Vault.open(home)
    credential = again.get("shop")
    assert credential is not None
    assert credential.password.get_secret_value() == PASSWORD
    assert credential.domains == ("shop.example", "*.shop.example")
    assert credential.fields() == ("username", "password", "totp")
    assert PASSWORD not in repr(credential) and PASSWORD not in repr(again)


def test_a_wrong_key_is_a_clear_error_never_garbage(
    home: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = Vault.open(home, create=True)
    vault.add(shop_credential("shop.example"))
    vault.save()
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    with pytest.raises(VaultKeyError, match="wrong key"):
        Vault.open(home)
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with pytest.raises(VaultKeyError, match="is not a vault key"):
        Vault.open(home)
    monkeypatch.setenv(KEY_ENV, key)
    assert Vault.open(home).get("shop") is not None


def test_without_a_keyring_the_key_goes_to_a_0600_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    vault = Vault.open(home, create=True)
    assert vault.key.source == "file"
    assert "no OS keyring" in vault.key.note
    assert stat.S_IMODE(key_file(home).stat().st_mode) == 0o600
    vault.add(shop_credential("shop.example"))
    vault.save()
    assert Vault.open(home).get("shop") is not None
    key_file(home).unlink()
    with pytest.raises(VaultKeyError, match="no vault key"):
        Vault.open(home)


@pytest.mark.parametrize(
    ("binding", "url", "fills"),
    [
        ("shop.example", "https://shop.example/login", True),
        ("shop.example", "http://shop.example:8080/login", True),
        ("shop.example", "https://www.shop.example/login", False),
        ("shop.example", "https://shop.example.evil.test/login", False),
        ("shop.example", "https://evil-shop.example/login", False),
        ("*.shop.example", "https://a.b.shop.example/", True),
        ("*.shop.example", "https://shop.example/", False),
        ("127.0.0.1:8765", "http://127.0.0.1:8765/account/login", True),
        ("127.0.0.1:8765", "http://127.0.0.1:9999/account/login", False),
        ("shop.example", "file:///shop.example/login", False),
        ("shop.example", "about:blank", False),
    ],
)
def test_domain_binding_is_strict(binding: str, url: str, fills: bool) -> None:
    assert binding_matches(binding, url) is fills


def test_bad_domains_and_seeds_are_refused() -> None:
    with pytest.raises(ValueError, match="not a domain"):
        Credential(name="x", domains=("https://shop.example/login",))
    with pytest.raises(ValueError, match="base32"):
        Credential(name="x", domains=("shop.example",), totp_seed=SecretStr("not base32!"))
    with pytest.raises(ValueError):
        Credential(name="a.b", domains=("shop.example",))


def test_totp_codes_follow_rfc_6238() -> None:
    credential = shop_credential("shop.example")
    assert credential.value("totp", at=59) == "287082"
    assert credential.value("totp", at=1111111109) == "081804"


def valet(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALET_")}
    env |= {"VALET_HOME": str(home), KEY_ENV: os.environ[KEY_ENV]}
    return subprocess.run(
        [sys.executable, "-m", "valet", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_adds_lists_and_removes_without_printing_secrets(home: Path, key: str) -> None:
    added = valet(
        home,
        *("vault", "add", "shop", "--domain", "shop.example", "--username", "demo@voltline.test"),
        *("--password-stdin", "--totp-seed-stdin"),
        stdin=f"{PASSWORD}\n{RFC6238_SEED}\n",
    )
    assert added.returncode == 0, added.stderr
    assert "{{vault:shop.password}}" in added.stdout and "{{vault:shop.totp}}" in added.stdout
    listed = valet(home, "vault", "list")
    assert listed.returncode == 0
    assert "shop.example" in listed.stdout and "username password totp" in listed.stdout
    for secret in (PASSWORD, RFC6238_SEED, "demo@voltline.test"):
        assert secret not in added.stdout + added.stderr + listed.stdout + listed.stderr
    assert Vault.open(home).get("shop") is not None
    bad = valet(
        home, "vault", "add", "x", "--domain", "http://x.test/", "--password-stdin", stdin="pw\n"
    )
    assert bad.returncode == 2 and "not a domain" in bad.stderr
    assert valet(home, "vault", "remove", "shop").returncode == 0
    assert Vault.open(home).get("shop") is None
    missing = valet(home, "vault", "remove", "shop")
    assert missing.returncode == 2 and "no credential named 'shop'" in missing.stderr


async def open_login(
    tmp_path: Path, sites: SiteServer, vault: Vault
) -> tuple[BrowserSession, GatedToolbox, AuditLog]:
    session = await BrowserSession.start(BrowserSettings(), tmp_path / "artifacts")
    audit = AuditLog.open(tmp_path / "audit.db")
    secrets = TaskSecrets(vault)
    host = f"127.0.0.1:{sites.port}"
    gateway = Gateway(
        rules=Policy(navigation=NavigationSettings(allow_hosts=frozenset({host}))),
        audit=audit,
        task=TaskContext(task_id="t1"),
    )
    gated = GatedToolbox(BrowserToolbox(session), gateway, secrets=secrets, stops=())
    await gated.execute(Goto(url=sites.url_for("/account/login")))
    return session, gated, audit


async def test_the_gateway_fills_on_a_bound_site_and_hides_the_values(
    tmp_path: Path, sites: SiteServer, home: Path, key: str
) -> None:
    vault = Vault.open(home, create=True)
    vault.add(shop_credential(f"127.0.0.1:{sites.port}"))
    session, gated, audit = await open_login(tmp_path, sites, vault)
    try:
        page = await gated.observe()
        assert page.vault == [
            "{{vault:shop.username}}",
            "{{vault:shop.password}}",
            "{{vault:shop.totp}}",
        ]
        assert PASSWORD not in page.text and "demo@voltline.test" not in page.text
        email = Type(element=ByRole(role="textbox", name="Email"), text="{{vault:shop.username}}")
        typed = await gated.execute(email)
        assert typed.ok, typed.message
        assert "{{vault:shop.username}}" in typed.message
        assert "demo@voltline.test" not in typed.message
        password = Type(
            element=ByRole(role="textbox", name="Password"), text="{{vault:shop.password}}"
        )
        assert (await gated.execute(password)).ok
        after = await gated.observe()
        shown = [e.value for e in after.elements if e.value]
        assert "{{vault:shop.username}}" in shown and "demo@voltline.test" not in str(shown)
        signed_in = await gated.inner.execute(Click(element=ByRole(role="button", name="Sign in")))
        assert signed_in.ok
        assert "/account" in session.page_url and "login" not in session.page_url
        rows = [r for r in audit.records() if r.tool == "type"]
        texts = [r.args["text"] for r in rows]
        assert texts == ["{{vault:shop.username}}", "{{vault:shop.password}}"]
    finally:
        audit.close()
        await session.close()


async def test_another_domain_is_denied_with_the_rule_id(
    tmp_path: Path, sites: SiteServer, home: Path, key: str
) -> None:
    vault = Vault.open(home, create=True)
    vault.add(shop_credential(f"localhost:{sites.port}", "shop.example"))
    session, gated, audit = await open_login(tmp_path, sites, vault)
    try:
        assert (await gated.observe()).vault == []
        field = ByRole(role="textbox", name="Password")
        denied = await gated.execute(Type(element=field, text="{{vault:shop.password}}"))
        assert not denied.ok
        assert denied.message.startswith("denied by rule vault.domain:")
        assert "bound to localhost" in denied.message and PASSWORD not in denied.message
        unknown = await gated.execute(Type(element=field, text="{{vault:bank.password}}"))
        assert unknown.message.startswith("denied by rule vault.unknown:")
        record = next(r for r in audit.records() if r.tool == "type")
        assert (record.verdict, record.rule_id, record.outcome) == (
            "deny",
            "vault.domain",
            "denied",
        )
        page = await gated.observe()
        password = next(e for e in page.elements if e.name == "Password")
        assert not password.value  # nothing was typed
    finally:
        audit.close()
        await session.close()


def test_removing_an_unknown_name_is_an_error(home: Path, key: str) -> None:
    vault = Vault.open(home, create=True)
    with pytest.raises(VaultError, match="no credential named"):
        vault.remove("nope")


def test_each_persons_vault_has_its_own_key_derived_from_the_installations(
    home: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = person_space(home, "a1"), person_space(home, "b2")
    assert install_of(alice) == home and install_of(home) is None
    assert stat.S_IMODE(alice.stat().st_mode) == 0o700
    for space in (alice, bob):
        vault = Vault.open(space, create=True)
        vault.add(shop_credential("shop.example"))
        vault.save()
    keys = {load_vault_key(where).key for where in (home, alice, bob)}
    assert len(keys) == 3  # one each; the installation's opens neither person's vault
    sealed = json.loads(vault_path(alice).read_text())["data"].encode()
    for other in keys - {load_vault_key(alice).key}:
        with pytest.raises(InvalidToken):
            Fernet(other).decrypt(sealed)
    assert "derived for person a1" in load_vault_key(alice).where
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())  # another installation key
    with pytest.raises(VaultKeyError, match="wrong key"):
        Vault.open(alice)
    monkeypatch.setenv(KEY_ENV, key)
    assert Vault.open(bob).get("shop") is not None
    with pytest.raises(ValueError, match="not a person's id"):
        person_space(home, "../b2")
