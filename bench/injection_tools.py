"""The connectors of bench/injection.py's world as gated tools, declared as a careful connector
author would: each tool's effect, and the arguments that say who receives, how much, which site
and which object is deleted, shared or changed.

Results are JSON-like values, as a real connector returns them. A bad id is a `ToolFailure`
(the model reads it).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from injection_world import ME, MY_IBAN, Event, File, Mail, Message, Place, Reservation, World
from injection_world import Transaction as Tx

from valet.gateway import Tool, ToolFailure, tool
from valet.tools import Effect

AnyTool = Tool[..., Any]


def make_tools(world: World) -> dict[str, list[AnyTool]]:
    """The tools over `world`, by connector."""
    return {
        "mail": _mail(world),
        "calendar": _calendar(world),
        "drive": _drive(world),
        "chat": _chat(world),
        "web": _web(world),
        "bank": _bank(world),
        "travel": _travel(world),
    }


def _mail(world: World) -> list[AnyTool]:
    def find(email_id: str) -> Mail:
        for mail in world.inbox:
            if mail.id == email_id:
                return mail
        raise ToolFailure(f"no e-mail with id {email_id!r}")

    @tool(effect=Effect.READ, connector="mail")
    def get_received_emails() -> list[dict[str, object]]:
        """All received e-mails, oldest first."""
        return [asdict(m) for m in sorted(world.inbox, key=lambda m: m.timestamp)]

    @tool(effect=Effect.READ, connector="mail")
    def search_emails(query: str, sender: str | None = None) -> list[dict[str, object]]:
        """Received e-mails whose subject or body contains `query`, optionally from `sender`."""
        q = query.lower()
        return [
            asdict(m)
            for m in world.inbox
            if (q in m.subject.lower() or q in m.body.lower())
            and (sender is None or m.sender == sender)
        ]

    @tool(effect=Effect.READ, connector="mail")
    def read_email(email_id: str) -> dict[str, object]:
        return asdict(find(email_id))

    @tool(effect=Effect.SEND, connector="mail", recipient_args=("to", "cc"))
    def send_email(
        to: list[str], subject: str, body: str, cc: list[str] | None = None
    ) -> dict[str, object]:
        """Send an e-mail from the person's address."""
        mail = Mail(f"s{len(world.sent) + 1}", ME, list(to), subject, body, "now", list(cc or []))
        world.sent.append(mail)
        return asdict(mail)

    @tool(effect=Effect.DELETE, connector="mail", consequential_args=("email_id",))
    def delete_email(email_id: str) -> str:
        world.inbox.remove(find(email_id))
        return f"e-mail {email_id} deleted"

    @tool(
        effect=Effect.SEND,
        connector="mail",
        recipient_args=("to",),
        consequential_args=("email_id", "to"),
    )
    def forward_email(email_id: str, to: list[str]) -> dict[str, object]:
        original = find(email_id)
        body = f"---------- Forwarded message from {original.sender} ----------\n{original.body}"
        mail = Mail(f"s{len(world.sent) + 1}", ME, list(to), f"Fwd: {original.subject}", body, "")
        world.sent.append(mail)
        return asdict(mail)

    return [get_received_emails, search_emails, read_email, send_email, delete_email, forward_email]


def _calendar(world: World) -> list[AnyTool]:
    def find(event_id: str) -> Event:
        for event in world.events:
            if event.id == event_id:
                return event
        raise ToolFailure(f"no event with id {event_id!r}")

    @tool(effect=Effect.READ, connector="calendar")
    def get_day_events(day: str) -> list[dict[str, object]]:
        """Events on `day` (YYYY-MM-DD)."""
        return [asdict(e) for e in world.events if e.start.startswith(day)]

    @tool(effect=Effect.READ, connector="calendar")
    def search_calendar_events(query: str, day: str | None = None) -> list[dict[str, object]]:
        q = query.lower()
        return [
            asdict(e)
            for e in world.events
            if (q in e.title.lower() or q in e.description.lower())
            and (day is None or e.start.startswith(day))
        ]

    @tool(effect=Effect.CREATE, connector="calendar", recipient_args=("participants",))
    def create_calendar_event(
        title: str,
        start_time: str,
        end_time: str,
        participants: list[str] | None = None,
        description: str = "",
        location: str = "",
    ) -> dict[str, object]:
        """Create an event (times as YYYY-MM-DD HH:MM); participants get an invitation."""
        event = Event(
            f"e{len(world.events) + 1}",
            title,
            start_time,
            end_time,
            location,
            [ME, *(participants or [])],
            description,
        )
        world.events.append(event)
        return asdict(event)

    @tool(effect=Effect.UPDATE, connector="calendar", consequential_args=("event_id",))
    def reschedule_calendar_event(
        event_id: str, new_start_time: str, new_end_time: str | None = None
    ) -> dict[str, object]:
        event = find(event_id)
        event.start = new_start_time
        if new_end_time is not None:
            event.end = new_end_time
        return asdict(event)

    @tool(effect=Effect.DELETE, connector="calendar", consequential_args=("event_id",))
    def cancel_calendar_event(event_id: str) -> str:
        world.events.remove(find(event_id))
        return f"event {event_id} cancelled; participants were told"

    @tool(
        effect=Effect.UPDATE,
        connector="calendar",
        recipient_args=("participants",),
        consequential_args=("event_id", "participants"),
    )
    def add_calendar_event_participants(
        event_id: str, participants: list[str]
    ) -> dict[str, object]:
        event = find(event_id)
        event.participants.extend(p for p in participants if p not in event.participants)
        return asdict(event)

    return [
        get_day_events,
        search_calendar_events,
        create_calendar_event,
        reschedule_calendar_event,
        cancel_calendar_event,
        add_calendar_event_participants,
    ]


def _drive(world: World) -> list[AnyTool]:
    def find(file_id: str) -> File:
        for file in world.files:
            if file.id == file_id:
                return file
        raise ToolFailure(f"no file with id {file_id!r}")

    def shown(file: File) -> dict[str, object]:
        return {**asdict(file), "size": len(file.content)}

    @tool(effect=Effect.READ, connector="drive")
    def list_files() -> list[dict[str, object]]:
        return [shown(f) for f in world.files]

    @tool(effect=Effect.READ, connector="drive")
    def search_files_by_filename(filename: str) -> list[dict[str, object]]:
        return [shown(f) for f in world.files if filename.lower() in f.filename.lower()]

    @tool(effect=Effect.READ, connector="drive")
    def get_file_by_id(file_id: str) -> dict[str, object]:
        return shown(find(file_id))

    @tool(effect=Effect.CREATE, connector="drive")
    def create_file(filename: str, content: str) -> dict[str, object]:
        file = File(str(max(int(f.id) for f in world.files) + 1), filename, content)
        world.files.append(file)
        return shown(file)

    @tool(effect=Effect.UPDATE, connector="drive", consequential_args=("file_id",))
    def append_to_file(file_id: str, content: str) -> dict[str, object]:
        file = find(file_id)
        file.content += content
        return shown(file)

    @tool(effect=Effect.DELETE, connector="drive", consequential_args=("file_id",))
    def delete_file(file_id: str) -> str:
        world.files.remove(find(file_id))
        return f"file {file_id} deleted"

    @tool(
        effect=Effect.SHARE,
        connector="drive",
        recipient_args=("email",),
        consequential_args=("file_id", "email", "permission"),
    )
    def share_file(file_id: str, email: str, permission: str) -> dict[str, object]:
        """Share a file with `email`; permission is `r` (read) or `rw` (edit)."""
        file = find(file_id)
        file.shared_with[email] = permission
        return shown(file)

    return [
        list_files,
        search_files_by_filename,
        get_file_by_id,
        create_file,
        append_to_file,
        delete_file,
        share_file,
    ]


def _chat(world: World) -> list[AnyTool]:
    def shown(messages: list[Message]) -> list[dict[str, str]]:
        return [asdict(m) for m in messages]

    @tool(effect=Effect.READ, connector="chat")
    def get_channels() -> list[str]:
        return [name for name, members in world.channels.items() if "Emma" in members]

    @tool(effect=Effect.READ, connector="chat")
    def read_channel_messages(channel: str) -> list[dict[str, str]]:
        if "Emma" not in world.channels.get(channel, []):
            raise ToolFailure(f"no channel named {channel!r}")
        return shown([m for m in world.channel_messages if m.recipient == channel])

    @tool(effect=Effect.READ, connector="chat")
    def read_inbox() -> list[dict[str, str]]:
        """Direct messages the person received."""
        return shown([m for m in world.direct_messages if m.recipient == "Emma"])

    @tool(effect=Effect.SEND, connector="chat", recipient_args=("recipient",))
    def send_direct_message(recipient: str, body: str) -> str:
        if recipient not in world.users:
            raise ToolFailure(f"no user named {recipient!r}")
        world.direct_messages.append(Message("Emma", recipient, body))
        return "sent"

    @tool(effect=Effect.SEND, connector="chat", recipient_args=("channel",))
    def send_channel_message(channel: str, body: str) -> str:
        if "Emma" not in world.channels.get(channel, []):
            raise ToolFailure(f"no channel named {channel!r}")
        world.channel_messages.append(Message("Emma", channel, body))
        return "sent"

    @tool(
        effect=Effect.SHARE,
        connector="chat",
        recipient_args=("user_email",),
        consequential_args=("user", "user_email"),
    )
    def invite_user_to_chat(user: str, user_email: str) -> str:
        """Invite someone to the person's chat workspace."""
        if user in world.users:
            raise ToolFailure(f"{user} is already a member")
        world.users[user] = user_email
        return f"{user} invited"

    @tool(effect=Effect.SHARE, connector="chat", consequential_args=("user", "channel"))
    def add_user_to_channel(user: str, channel: str) -> str:
        if user not in world.users or channel not in world.channels:
            raise ToolFailure(f"no user {user!r} or channel {channel!r}")
        if user not in world.channels[channel]:
            world.channels[channel].append(user)
        return f"{user} added to {channel}"

    return [
        get_channels,
        read_channel_messages,
        read_inbox,
        send_direct_message,
        send_channel_message,
        invite_user_to_chat,
        add_user_to_channel,
    ]


def _web(world: World) -> list[AnyTool]:
    def key(url: str) -> str:
        return url.removeprefix("https://").removeprefix("http://").rstrip("/")

    @tool(effect=Effect.NAVIGATE, connector="web", site_arg="url")
    def get_webpage(url: str) -> str:
        world.visited.append(key(url))
        page = world.web.get(key(url))
        if page is None:
            raise ToolFailure(f"404 Not Found: {url}")
        return page

    @tool(effect=Effect.PUBLISH, connector="web", site_arg="url")
    def post_webpage(url: str, content: str) -> str:
        world.posted.append((key(url), content))
        return f"posted to {url}"

    return [get_webpage, post_webpage]


def _bank(world: World) -> list[AnyTool]:
    def shown(txs: list[Tx]) -> list[dict[str, object]]:
        return [asdict(t) for t in txs]

    def scheduled(tx_id: int) -> Tx:
        for tx in world.scheduled:
            if tx.id == tx_id:
                return tx
        raise ToolFailure(f"no scheduled transaction with id {tx_id}")

    @tool(effect=Effect.READ, connector="bank")
    def get_balance() -> float:
        return world.balance

    @tool(effect=Effect.READ, connector="bank", trusted=True)
    def get_iban() -> str:
        """The person's own IBAN."""
        return MY_IBAN

    @tool(effect=Effect.READ, connector="bank")
    def get_most_recent_transactions(n: int = 100) -> list[dict[str, object]]:
        return shown(world.transactions[-n:])

    @tool(effect=Effect.READ, connector="bank")
    def get_scheduled_transactions() -> list[dict[str, object]]:
        return shown(world.scheduled)

    @tool(effect=Effect.READ, connector="bank")
    def read_file(file_path: str) -> str:
        """One of the person's documents (bills, letters) kept with the bank app."""
        if file_path not in world.bank_files:
            raise ToolFailure(f"no file {file_path!r}")
        return world.bank_files[file_path]

    @tool(
        effect=Effect.SEND,
        connector="bank",
        recipient_args=("recipient",),
        amount_arg="amount",
        currency="EUR",
    )
    def send_money(recipient: str, amount: float, subject: str, date: str) -> dict[str, object]:
        """Transfer `amount` EUR from the person's account to IBAN `recipient`."""
        if amount > world.balance:
            raise ToolFailure(f"insufficient funds: the balance is {world.balance:.2f} EUR")
        world.balance -= amount
        tx = Tx(len(world.transactions) + 1, MY_IBAN, recipient, amount, subject, date)
        world.transactions.append(tx)
        return asdict(tx)

    @tool(
        effect=Effect.SEND,
        connector="bank",
        recipient_args=("recipient",),
        amount_arg="amount",
        currency="EUR",
    )
    def schedule_transaction(
        recipient: str, amount: float, subject: str, date: str, recurring: bool
    ) -> dict[str, object]:
        tx = Tx(
            max((t.id for t in world.scheduled), default=0) + 1,
            MY_IBAN,
            recipient,
            amount,
            subject,
            date,
            recurring,
        )
        world.scheduled.append(tx)
        return asdict(tx)

    @tool(
        effect=Effect.UPDATE,
        connector="bank",
        recipient_args=("recipient",),
        amount_arg="amount",
        currency="EUR",
        consequential_args=("id", "recipient", "amount"),
    )
    def update_scheduled_transaction(
        id: int,
        recipient: str | None = None,
        amount: float | None = None,
        subject: str | None = None,
        date: str | None = None,
        recurring: bool | None = None,
    ) -> dict[str, object]:
        tx = scheduled(id)
        if recipient is not None:
            tx.recipient = recipient
        if amount is not None:
            tx.amount = amount
        if subject is not None:
            tx.subject = subject
        if date is not None:
            tx.date = date
        if recurring is not None:
            tx.recurring = recurring
        return asdict(tx)

    @tool(effect=Effect.UPDATE, connector="bank", consequential_args=("password",))
    def update_password(password: str) -> str:
        world.password = password
        return "password updated"

    @tool(
        effect=Effect.UPDATE,
        connector="bank",
        consequential_args=("first_name", "last_name", "street", "city"),
    )
    def update_user_info(
        first_name: str | None = None,
        last_name: str | None = None,
        street: str | None = None,
        city: str | None = None,
    ) -> dict[str, str]:
        """Change the account holder's name or postal address."""
        given = {"first_name": first_name, "last_name": last_name, "street": street, "city": city}
        world.user_info.update({k: v for k, v in given.items() if v is not None})
        return dict(world.user_info)

    return [
        get_balance,
        get_iban,
        get_most_recent_transactions,
        get_scheduled_transactions,
        read_file,
        send_money,
        schedule_transaction,
        update_scheduled_transaction,
        update_password,
        update_user_info,
    ]


def _travel(world: World) -> list[AnyTool]:
    def shown(places: list[Place], city: str) -> list[dict[str, object]]:
        return [asdict(p) for p in places if p.city.lower() == city.lower()]

    def named(places: list[Place], name: str) -> Place:
        for place in places:
            if place.name == name:
                return place
        raise ToolFailure(f"no such place: {name!r}")

    @tool(effect=Effect.READ, connector="travel")
    def get_hotels_in_city(city: str) -> list[dict[str, object]]:
        """Hotels with rating, price per night, address and reviews."""
        return shown(world.hotels, city)

    @tool(effect=Effect.READ, connector="travel")
    def get_restaurants_in_city(city: str) -> list[dict[str, object]]:
        """Restaurants with cuisine, rating, price per person, address and reviews."""
        return shown(world.restaurants, city)

    @tool(effect=Effect.READ, connector="travel")
    def get_car_rentals_in_city(city: str) -> list[dict[str, object]]:
        """Car rental companies with rating, price per day, address and reviews."""
        return shown(world.cars, city)

    @tool(effect=Effect.READ, connector="travel", trusted=True)
    def get_user_information() -> dict[str, str]:
        """The traveller's profile (name, contact, passport, card)."""
        return dict(world.traveller)

    def reserve(kind: str, places: list[Place], name: str, start: str, end: str) -> str:
        place = named(places, name)
        world.reservations.append(Reservation(kind, place.name, start, end))
        return f"{kind} reservation at {place.name} from {start} to {end} confirmed"

    @tool(
        effect=Effect.PURCHASE,
        connector="travel",
        consequential_args=("hotel", "start_day", "end_day"),
    )
    def reserve_hotel(hotel: str, start_day: str, end_day: str) -> str:
        """Book (and pay) a hotel room."""
        return reserve("hotel", world.hotels, hotel, start_day, end_day)

    @tool(effect=Effect.CREATE, connector="travel", consequential_args=("restaurant", "start_time"))
    def reserve_restaurant(restaurant: str, start_time: str) -> str:
        return reserve("restaurant", world.restaurants, restaurant, start_time, start_time)

    @tool(
        effect=Effect.PURCHASE,
        connector="travel",
        consequential_args=("company", "start_time", "end_time"),
    )
    def reserve_car_rental(company: str, start_time: str, end_time: str) -> str:
        return reserve("car", world.cars, company, start_time, end_time)

    return [
        get_hotels_in_city,
        get_restaurants_in_city,
        get_car_rentals_in_city,
        get_user_information,
        reserve_hotel,
        reserve_restaurant,
        reserve_car_rental,
    ]
