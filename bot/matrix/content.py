"""Turn a `Message` into Matrix event content. Pure: no network, no nio."""

from __future__ import annotations

from typing import Any

from bot.messages import Attachment, Message


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


UPLOAD = "se.samverkan.upload"  # file data waiting for upload; replaced by the mxc url when sent


def file_content(attachment: Attachment) -> dict[str, Any]:
    data = attachment.data.encode()
    return {"msgtype": "m.file", "body": attachment.filename, "filename": attachment.filename,
            "info": {"mimetype": attachment.mimetype, "size": len(data)}, UPLOAD: attachment.data,
            "m.mentions": {}}
