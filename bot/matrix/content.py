"""Turn a `Message` into Matrix event content. Pure: no network, no nio."""

from __future__ import annotations

from typing import Any

from bot.messages import Message


def message_content(message: Message) -> dict[str, Any]:
    """`m.text` with intentional mentions for a ping; `m.notice` mentioning nobody otherwise."""
    content: dict[str, Any] = {
        "msgtype": "m.text" if message.ping else "m.notice",
        "body": message.body,
        "format": "org.matrix.custom.html",
        "formatted_body": message.html,
        # An empty m.mentions tells the homeserver that nobody is to be notified by name.
        "m.mentions": {"user_ids": list(message.mentions)} if message.ping else {},
    }
    if message.reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.reply_to}}
    return content
