"""Kill sweep: `valet serve` killed with SIGKILL at random moments of a real task, then recovered.

The task signs in to the demo shop (the vault fills the password), orders two cables with the
saved card (the person approves the order), then mails the shop through the mail connector
(the person approves the mail), against Dovecot (IMAP) and an SMTP server that takes half a
second to accept a message, like a remote one. Each task is killed at a random moment after
each (re)start, up to `--per-task` times, then left to finish. The person, played here through
the REST API, approves what is asked and, when valet asks whether an interrupted action took
effect, checks it where a person would (their orders at the shop, the mail server's log) and
answers. Orders and mail are counted on the servers themselves.

Reported: kills, tasks, duplicates (a task whose order, cart line or mail happened more than
once: more than one order, more than two cables, more than one mail), stuck
(a task not ended within five minutes of its last restart), lost_silently (a task that ended
"succeeded" while its order or mail did not happen), asked (questions about interrupted
actions), and how the tasks ended.

Usage: .venv/bin/python bench/kill_sweep.py [--kills 100] [--per-task 3] [--seed 7]
The last line is machine-readable: kills= tasks= duplicates= stuck= lost_silently= ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' servers

from aiosmtpd.smtp import SMTP, Envelope, Session
from tests._servers import DOMAIN, Dovecot, MailDrop, running_dovecot, smtp_server
from tests.test_durable import FINAL, Server

from valet.sites import SiteServer
from valet.sites.state import DEMO_EMAIL, DEMO_PASSWORD, SiteState
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault

CHEAPEST = "USB-C Cable 1 m (Basic)"
STUCK_AFTER_S = 300.0
"""A task not ended this long after its last (re)start counts as stuck (generous: on a busy
two-core machine one step can take seconds)."""


def script(subject: str) -> list[Any]:
    """What the model does: sign in with the vault, order, mail the shop, done."""
    return [
        {"click": {"role": "link", "name": "Sign in"}},
        {"type": {"role": "textbox", "name": "Email", "text": "{{vault:shop.username}}"}},
        {"type": {"role": "textbox", "name": "Password", "text": "{{vault:shop.password}}"}},
        {"click": {"role": "button", "name": "Sign in"}},
        {"type": {"role": "searchbox", "name": "Search products", "text": "USB-C cable",
                  "submit": True}},
        {"click": {"role": "link", "name": CHEAPEST}},
        {"type": {"role": "spinbutton", "name": "Quantity", "text": "2"}},
        {"click": {"role": "button", "name": "Add to cart"}},
        {"goto": "/shop/cart"},
        {"click": {"role": "link", "name": "Proceed to checkout"}},
        {"type": {"role": "textbox", "name": "Full name", "text": "Dana Demo"}},
        {"type": {"role": "textbox", "name": "Street address", "text": "12 Circuit Lane"}},
        {"type": {"role": "textbox", "name": "City", "text": "Springfield"}},
        {"type": {"role": "textbox", "name": "Postal code", "text": "01101"}},
        {"select": {"role": "combobox", "name": "Country", "option": "United States"}},
        {"check": {"role": "radio", "name": "Standard"}},
        {"click": {"role": "button", "name": "Continue to payment"}},
        {"check": {"role": "radio", "name": "Pay with saved card •••• 4242"}},
        {"click": {"role": "button", "name": "Review order"}},
        # a careful model checks it reached the order's review before ordering
        {"expect": {"element": {"role": "button", "name": "Place order"}}},
        {"click": {"role": "button", "name": "Place order"}},
        {"raw": {"tool": "mail_send", "args": {
            "to": ["orders@voltline.test"], "subject": subject,
            "body": "I just ordered two USB-C cables; please ship them together."}}},
        {"done": {"answer": "ordered and mailed the shop", "success": True}},
    ]  # fmt: skip


class SlowDrop(MailDrop):
    """A mail server that takes `delay` seconds to accept a message, after it took it."""

    delay = 0.5

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return answer


@dataclass
class Outcome:
    status: str
    orders: int
    cables: int
    """Cables in the task's orders: 2 when "Add to cart" ran once."""
    mails: int
    kills: int
    asked: int
    detail: str = ""


@dataclass
class Sweep:
    sites: SiteServer
    dovecot: Dovecot
    drop: SlowDrop
    smtp_port: int
    root: Path
    rng: random.Random
    outcomes: list[Outcome] = field(default_factory=lambda: list[Outcome]())

    @property
    def shop(self) -> SiteState:
        return cast(SiteState, self.sites.app.state.site)

    def home(self, index: int, subject: str) -> tuple[Path, Path]:
        home = self.root / f"task-{index}"
        home.mkdir()
        user = self.dovecot.add_user()
        vault = Vault.open(home, create=True)
        host = self.sites.url.split("//", 1)[1].rstrip("/")
        vault.add(Credential(name="shop", domains=(host,), username=DEMO_EMAIL,
                             password=DEMO_PASSWORD))  # fmt: skip
        servers = (f"127.0.0.1:{self.dovecot.port}", f"127.0.0.1:{self.smtp_port}")
        vault.add(Credential(name="mail", domains=servers, username=user,
                             password=self.dovecot.passwords[user]))  # fmt: skip
        vault.save()
        mail = {
            "name": "mail", "connector": "mail", "imap_host": "127.0.0.1",
            "imap_port": self.dovecot.port, "imap_tls": "none", "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp_port, "smtp_tls": "none", "credential": "mail",
            "address": f"{user}@{DOMAIN}", "timeout": 30,
        }  # fmt: skip
        lines = ["[[connectors]]", *(f"{k} = {json.dumps(v)}" for k, v in mail.items())]
        lines += ["[grants]", 'mail = ["send"]']
        (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        path = home / "script.yaml"
        path.write_text(yaml.safe_dump(script(subject), allow_unicode=True), encoding="utf-8")
        return home, path

    def orders(self) -> int:
        return len(self.shop.orders)

    def cables(self, before: int) -> int:
        placed = list(self.shop.orders.values())[before:]
        return sum(line.quantity for order in placed for line in order.lines)

    def happened(self, summary: str, subject: str, before: int, sessions: set[str]) -> bool:
        """What the person finds when they check what valet asks about: their orders at the
        shop, their cart, whether they are signed in, the mail server's log."""
        new = [s for sid, s in self.shop.sessions.items() if sid not in sessions]
        if "mail_send" in summary:
            return self.mails(subject) > 0
        if "Place order" in summary:
            return self.orders() > before
        if "Add to cart" in summary:
            return self.orders() > before or any(s.cart for s in new)
        if "Sign in" in summary:
            return any(s.user_email for s in new)
        print(f"  (asked about something the person cannot check: {summary[:120]})")
        return False

    def mails(self, subject: str) -> int:
        return sum(1 for r in self.drop.received if r.message["Subject"] == subject)

    def answer(
        self, server: Server, task_id: str, subject: str, before: int, sessions: set[str]
    ) -> int:
        """Play the person once: approve asks, answer questions by checking; how many
        questions were answered."""
        asked = 0
        for request in server.get(f"/api/requests?task_id={task_id}").json():
            if request["kind"] == "approval":
                server.post(f"/api/requests/{request['id']}/approve", {})
            elif request["kind"] == "question":
                happened = self.happened(request["summary"], subject, before, sessions)
                server.post(
                    f"/api/requests/{request['id']}/answer",
                    {"text": "yes" if happened else "no"},
                )
                asked += 1
            elif request["kind"] == "takeover":
                raise RuntimeError(f"unexpected takeover: {request['summary']}")
        return asked

    def run_task(self, index: int, per_task: int, kills_left: int) -> Outcome:
        subject = f"Order note {index}"
        home, path = self.home(index, subject)
        before = self.orders()
        sessions = set(self.shop.sessions)
        server = Server(home, path)
        server.start()
        kills = asked = 0
        status, detail = "stuck", ""
        try:
            created = server.post(
                "/api/tasks",
                {
                    "task": "sign in, order two cheapest USB-C cables, mail the shop",
                    "start_url": self.sites.url_for("/shop"),
                },
            )
            task_id = str(created.json()["id"])
            target = min(per_task, kills_left)
            while True:
                kill_at = time.monotonic() + self.rng.uniform(0.0, 8.0) if kills < target else None
                deadline = time.monotonic() + STUCK_AFTER_S
                ended = None
                while time.monotonic() < deadline:
                    asked += self.answer(server, task_id, subject, before, sessions)
                    task = server.get(f"/api/tasks/{task_id}").json()
                    if task["status"] in FINAL:
                        ended = task
                        break
                    if kill_at is not None and time.monotonic() >= kill_at:
                        break
                    time.sleep(0.05)
                if ended is not None:
                    status, detail = str(ended["status"]), str(ended.get("answer") or "")
                    break
                if kill_at is None or time.monotonic() >= deadline:
                    break  # stuck: never ended within STUCK_AFTER_S of its last start
                server.kill()
                kills += 1
                server.start()
        finally:
            server.stop()
        orders, cables = self.orders() - before, self.cables(before)
        return Outcome(status, orders, cables, self.mails(subject), kills, asked, detail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--per-task", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the tasks' valet homes in this folder")
    args = parser.parse_args()
    os.environ[VAULT_KEY_ENV] = Fernet.generate_key().decode()  # the servers inherit it
    os.environ.pop("VALET_AUDIT_KEY", None)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="valet-kill-sweep-") as scratch,
        SiteServer() as sites,
        running_dovecot(users=3 * args.kills + 10) as dovecot,  # a mailbox per task
    ):
        drop = SlowDrop(dovecot)
        with smtp_server(drop, drop.authenticate) as port:
            root = args.keep or Path(scratch)
            root.mkdir(parents=True, exist_ok=True)
            sweep = Sweep(sites, dovecot, drop, port, root, random.Random(args.seed))
            kills = 0
            while kills < args.kills:
                outcome = sweep.run_task(len(sweep.outcomes) + 1, args.per_task, args.kills - kills)
                kills += outcome.kills
                sweep.outcomes.append(outcome)
                print(
                    f"task {len(sweep.outcomes):3d}: {outcome.status:9s} kills={outcome.kills} "
                    f"orders={outcome.orders} cables={outcome.cables} mails={outcome.mails} "
                    f"asked={outcome.asked}",
                    flush=True,
                )
    outcomes = sweep.outcomes
    duplicates = sum(1 for o in outcomes if o.orders > 1 or o.cables > 2 or o.mails > 1)
    stuck = sum(1 for o in outcomes if o.status not in FINAL)
    lost = sum(1 for o in outcomes if o.status == "succeeded" and (o.orders < 1 or o.mails < 1))
    ended = Counter(o.status for o in outcomes)
    for outcome in outcomes:
        if outcome.status != "succeeded":
            print(f"  {outcome.status}: {outcome.detail[:300]}")
    print(f"{len(outcomes)} tasks, {kills} kills in {time.monotonic() - started:.0f} s")
    print(
        f"kills={kills} tasks={len(outcomes)} duplicates={duplicates} stuck={stuck} "
        f"lost_silently={lost} asked={sum(o.asked for o in outcomes)} "
        f"succeeded={ended['succeeded']} failed={ended['failed']} stopped={ended['stopped']}"
    )


if __name__ == "__main__":
    main()
