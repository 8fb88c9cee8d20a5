"""`valet rules`: limits added in plain language, confirmed, kept as data, edited, audited as the
person's, and enforced by `valet run` (which shows the task's scope before it starts)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from tests.test_cli import script

from valet._rules_file import load_rules, rules_from_toml
from valet.audit import KEY_ENV, AuditLog
from valet.policy import ForbidEffect, MaxAmount, RuleSet
from valet.record import RunStore
from valet.sites import SiteServer


def valet(
    home: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VALET_", "OPENAI_", "ANTHROPIC_", "EDITOR", "VISUAL"))
        and k != KEY_ENV
    }
    return subprocess.run(
        [sys.executable, "-m", "valet", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean | {"VALET_HOME": str(home), "COLUMNS": "200"} | (env or {}),
        timeout=120,
        check=False,
    )


def audit(home: Path) -> list[tuple[str, str, dict[str, object]]]:
    log = AuditLog.open(home / "audit.db", home / "keys" / "audit.key")
    try:
        assert log.verify().ok
        return [(r.actor, r.tool, r.args) for r in log.records()]
    finally:
        log.close(checkpoint=False)


def test_add_shows_the_rules_and_saves_them_once_confirmed(home: Path) -> None:
    declined = valet(home, "rules", "add", "never spend more than 100 €", stdin="n\n")
    assert declined.returncode == 1
    assert "deny spending more than 100 EUR in one purchase" in declined.stdout
    assert "nothing saved" in declined.stdout
    assert not (home / "rules.toml").exists()

    added = valet(home, "rules", "add", "never spend more than 100 €", stdin="y\n")
    assert added.returncode == 0, added.stderr
    assert "saved max-amount-1" in added.stdout
    quick = valet(home, "rules", "add", "ne jamais rien supprimer dans mon drive", "--yes")
    assert quick.returncode == 0, quick.stderr

    rules = load_rules(home)
    assert rules == RuleSet(
        rules=(
            MaxAmount(
                id="max-amount-1",
                note="never spend more than 100 €",
                limit=100,  # pyright: ignore[reportArgumentType]
                currency="EUR",
            ),
            ForbidEffect(
                id="forbid-effect-1",
                note="ne jamais rien supprimer dans mon drive",
                effect="delete",  # pyright: ignore[reportArgumentType]
                connectors=("drive",),
            ),
        )
    )
    listed = valet(home, "rules", "list")
    assert "max-amount-1" in listed.stdout and "deny delete on the drive connector" in listed.stdout
    assert "ne jamais rien supprimer dans mon drive" in listed.stdout
    shown = valet(home, "rules", "show", "--json")
    assert RuleSet.model_validate_json(shown.stdout) == rules
    assert rules_from_toml(valet(home, "rules", "show").stdout) == rules

    records = audit(home)
    assert [(actor, tool) for actor, tool, _ in records] == [
        ("person", "rules.add"),
        ("person", "rules.add"),
    ]
    assert records[0][2]["instruction"] == "never spend more than 100 €"


def test_an_uncompilable_instruction_is_reported_and_nothing_is_saved(home: Path) -> None:
    done = valet(home, "rules", "add", "be nice to people", "--yes")
    assert done.returncode == 2
    assert "not compiled: 'be nice to people': it is not a limit valet can enforce" in done.stderr
    assert "nothing saved" in done.stderr
    half = valet(home, "rules", "add", "never delete anything; be nice to people", "--yes")
    assert half.returncode == 2
    assert "deny delete anywhere" in half.stdout  # what did compile is shown
    assert not (home / "rules.toml").exists()
    assert not (home / "audit.db").exists()


def test_remove_and_edit(home: Path, tmp_path: Path) -> None:
    assert valet(home, "rules", "add", "never use casino.example", "--yes").returncode == 0
    assert valet(home, "rules", "add", "only use fnac.com", "--yes").returncode == 0
    unknown = valet(home, "rules", "remove", "nope-1")
    assert unknown.returncode == 2 and "deny-sites-1, allow-sites-1" in unknown.stderr
    removed = valet(home, "rules", "remove", "deny-sites-1")
    assert removed.returncode == 0 and "removed deny-sites-1" in removed.stdout
    assert [r.id for r in load_rules(home).rules] == ["allow-sites-1"]

    before = (home / "rules.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nkind = "max_amount"\nlimit = "-5"\ncurrency = "EUR"\n')
    refused = valet(home, "rules", "edit", "--file", str(bad))
    assert refused.returncode == 2
    assert "not valid rules: rules.0.max_amount.limit: Input should be greater than 0" in (
        refused.stderr
    )
    assert "nothing saved" in refused.stderr
    not_toml = tmp_path / "broken.toml"
    not_toml.write_text("[[rules]\n")
    assert valet(home, "rules", "edit", "--file", str(not_toml)).returncode == 2
    assert (home / "rules.toml").read_text() == before

    good = tmp_path / "rules.json"
    good.write_text(
        json.dumps(
            {
                "rules": [
                    {"kind": "allow_sites", "id": "allow-sites-1", "sites": ["fnac.com"]},
                    {"kind": "max_amount", "limit": "50", "currency": "USD", "per": "task"},
                ]
            }
        )
    )
    edited = valet(home, "rules", "edit", "--file", str(good))
    assert edited.returncode == 0, edited.stderr
    rules = load_rules(home)
    assert [r.id for r in rules.rules] == ["allow-sites-1", "max-amount-1"]
    assert rules_from_toml((home / "rules.toml").read_text()) == rules
    assert [tool for _, tool, _ in audit(home)] == [
        "rules.add",
        "rules.add",
        "rules.remove",
        "rules.edit",
    ]


def test_edit_in_the_editor(home: Path, tmp_path: Path) -> None:
    assert valet(home, "rules", "add", "never delete anything", "--yes").returncode == 0
    editor = tmp_path / "editor.sh"
    editor.write_text(
        "#!/bin/sh\n"  # the person appends a rule to the file valet opened
        'printf \'\\n[[rules]]\\nkind = "deny_sites"\\nsites = ["casino.example"]\\n\' >> "$1"\n'
    )
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    done = valet(home, "rules", "edit", env={"EDITOR": str(editor)})
    assert done.returncode == 0, done.stderr
    assert [r.id for r in load_rules(home).rules] == ["forbid-effect-1", "deny-sites-1"]
    breaks = tmp_path / "breaks.sh"
    breaks.write_text("#!/bin/sh\necho 'rules = 5' > \"$1\"\n")
    breaks.chmod(breaks.stat().st_mode | stat.S_IXUSR)
    refused = valet(home, "rules", "edit", env={"EDITOR": str(breaks)})
    assert refused.returncode == 2 and "nothing saved" in refused.stderr
    assert len(load_rules(home).rules) == 2
    assert valet(home, "rules", "edit").returncode == 2  # no $EDITOR, no --file


@pytest.mark.usefixtures("sites")
def test_valet_run_shows_the_scope_and_enforces_the_saved_rules(
    home: Path, tmp_path: Path, sites: SiteServer
) -> None:
    assert valet(home, "rules", "add", "never delete anything", "--yes").returncode == 0
    steps: list[object] = [
        {"goto": "/shop/product/usb-c-cable-1m-basic"},
        {"click": {"role": "button", "name": "Add to cart"}},
        {"goto": "/shop/cart"},
        {"click": {"role": "button", "name": "Remove USB-C Cable 1 m (Basic)"}},
        {"expect": {"text": "USB-C Cable 1 m"}},  # still in the cart
        {"done": "kept"},
    ]
    url = sites.url_for("/shop")
    done = valet(home, "run", "find a cable", "-m", script(tmp_path, steps), "-u", url)
    assert done.returncode == 0, done.stdout + done.stderr
    site = url.split("/")[2]
    assert (
        f"scope: sites {site} · operations read, navigate, input, submit, download · "
        "connectors any · your rules: 1"
    ) in done.stdout
    header, recorded = RunStore(home / "runs").load("last")
    assert header["settings"]["scope"].startswith(f"sites {site} ·")
    remove = next(s for s in recorded if "Remove" in s["action_text"])
    assert remove["result"].startswith("denied by rule forbid-effect-1: you forbade delete")

    (home / "rules.toml").write_text("rules = 5\n")  # broken by hand: no task runs without them
    broken = valet(home, "run", "find a cable", "-m", script(tmp_path, steps), "-u", url)
    assert broken.returncode == 2 and "not valid rules" in broken.stderr
