"""Turn a `Message` into Matrix event content. Pure: no network, no nio."""

from __future__ import annotations

from typing import Any

from bot.messages import ATTACHMENT, MESSAGE, Attachment, Message, message_from_data


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
    if message.thread_root:
        # In a thread: the reply fallback points at the command itself, so is_falling_back is false.
        content["m.relates_to"] = {"rel_type": "m.thread", "event_id": message.thread_root,
                                   "is_falling_back": message.reply_to is None,
                                   "m.in_reply_to": {"event_id": message.reply_to or message.thread_root}}
    elif message.reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.reply_to}}
    if message.pin:
        content[PIN] = PIN_STAYS if message.pin_stays else True
    if message.replaces:
        return edit(content, message.replaces)
    return content


def edit(content: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An edit (m.replace) of the bot's message `event_id` to read as `content`. Its mentions are those of the
    new version only; the edit itself mentions nobody, so it notifies nobody."""
    new = {key: value for key, value in content.items() if key not in ("m.relates_to", PIN)}
    return {**new, "body": "* " + new["body"], "formatted_body": "* " + new["formatted_body"],
            "m.mentions": {}, "m.new_content": new, "m.relates_to": {"rel_type": "m.replace", "event_id": event_id}}


PIN = "se.samverkan.pin"  # pin the message once sent; removed before sending
PIN_STAYS = "stays"  # the value of PIN for a pin that deactivation does not remove
TOPIC_SEPARATOR = " | "


def compose_topic(current: str, last_prefix: str | None, prefix: str) -> str:
    """The topic people wrote with the bot's mode `prefix` in front; an empty prefix gives theirs back.

    `last_prefix` is what the bot put in front before, taken off first, so the people's text
    (edited meanwhile or not) is never lost or doubled.
    """
    theirs = current
    if last_prefix:
        if current.startswith(last_prefix + TOPIC_SEPARATOR):
            theirs = current[len(last_prefix + TOPIC_SEPARATOR):]
        elif current == last_prefix:
            theirs = ""
    if not prefix:
        return theirs
    return f"{prefix}{TOPIC_SEPARATOR}{theirs}" if theirs else prefix


def render(stored: dict[str, Any]) -> dict[str, Any]:
    """Matrix content for an outbox row's stored data: a message, an attachment, or (for rows queued by
    an earlier version, which stored Matrix content) the content itself."""
    if MESSAGE in stored and len(stored) == 1:
        return message_content(message_from_data(stored[MESSAGE]))
    if ATTACHMENT in stored and len(stored) == 1:
        return file_content(Attachment(**stored[ATTACHMENT]))
    return stored


UPLOAD = "se.samverkan.upload"  # file data waiting for upload; replaced by the mxc url when sent


def file_content(attachment: Attachment) -> dict[str, Any]:
    data = attachment.data.encode()
    return {"msgtype": "m.file", "body": attachment.filename, "filename": attachment.filename,
            "info": {"mimetype": attachment.mimetype, "size": len(data)}, UPLOAD: attachment.data,
            "m.mentions": {}}
