"""`sigap shell`: chat with the bot in a terminal, through the same core as every channel."""

from __future__ import annotations

import asyncio

from bot.conversations import Conversations
from bot.messages import InboundMessage
from bot.services import build_engine, build_services, set_current
from bot.settings import Settings
from nlu.model import NLU

CHANNEL = "shell"


async def chat(settings: Settings, sender: str) -> int:
    """Read lines from the terminal and print the bot's replies until EOF or /quit."""
    services = build_services(settings)
    set_current(services)
    nlu = NLU.load(settings.project_dir, settings.models_dir, services.resolve_location)
    conversations = Conversations(services, nlu, build_engine(services))
    print("Sigap 112 shell. Type a message (Ctrl-D or /quit to leave).")
    try:
        return await _talk(conversations, sender)
    finally:
        await conversations.close()


async def _talk(conversations: Conversations, sender: str) -> int:
    while True:
        try:
            line = await asyncio.to_thread(input, "> ")
        except EOFError:
            return 0
        if line.strip() == "/quit":
            return 0
        if not line.strip():
            continue
        accepted = await conversations.receive(InboundMessage(CHANNEL, sender, line.strip()))
        replies = await conversations.process(accepted)
        waiting = await conversations.take_notifications(accepted.conversation_id)
        for message in [*waiting, *replies]:
            print(f"112: {message.text}")
