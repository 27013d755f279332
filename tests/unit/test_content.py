"""Matrix content rendered from the bot's messages: threads, pins, and the topic people wrote."""

from __future__ import annotations

import json

from bot.matrix.content import PIN, compose_topic, message_content, render
from bot.messages import ATTACHMENT, MESSAGE, Message, message_data, message_from_data

THEIRS = "Samverkan i länet — TiB nås på 08-123 456"
MODE = "AKTIVERAT: snöoväder — sedan 2 dec 03:00"


def test_the_mode_goes_in_front_of_the_people_s_topic_and_comes_off_again() -> None:
    shown = compose_topic(THEIRS, None, MODE)
    assert shown == f"{MODE} | {THEIRS}"
    assert compose_topic(shown, MODE, "") == THEIRS, "deactivation gives their topic back"
    later = "ÖVNING: " + MODE
    assert compose_topic(shown, MODE, later) == f"{later} | {THEIRS}", "a new mode replaces the old, never doubles"


def test_what_people_changed_meanwhile_is_kept() -> None:
    shown = compose_topic(THEIRS, None, MODE)
    edited = shown.replace(THEIRS, "Ny text")
    assert compose_topic(edited, MODE, "") == "Ny text"
    assert compose_topic("Helt ny rubrik", MODE, "") == "Helt ny rubrik", "prefix removed by hand: left alone"


def test_an_empty_topic_gets_the_mode_alone_and_back_to_empty() -> None:
    assert compose_topic("", None, MODE) == MODE
    assert compose_topic(MODE, MODE, "") == ""
    assert compose_topic(THEIRS, None, "") == THEIRS, "ordinary mode never touches their topic"


def test_a_reply_in_a_thread_stays_in_the_thread_and_points_at_the_command() -> None:
    content = message_content(Message(target="!r", body="b", html="b", reply_to="$cmd", thread_root="$root"))
    assert content["m.relates_to"] == {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": False,
                                       "m.in_reply_to": {"event_id": "$cmd"}}
    plain = message_content(Message(target="!r", body="b", html="b", reply_to="$cmd"))
    assert plain["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd"}}
    assert PIN not in plain
    assert message_content(Message(target="!r", body="b", html="b", ping=True, pin=True))[PIN] is True


def test_the_outbox_stores_plain_data_and_renders_matrix_content_at_send() -> None:
    """What the state layer keeps is the message itself; rows an earlier version queued as Matrix content still send."""
    message = Message(target="user:@a:x", body="Kallelse", html="<b>Kallelse</b>", ping=True, mentions=("@a:x",),
                      reply_to="$c", thread_root="$r", pin=True)
    stored = json.loads(json.dumps({MESSAGE: message_data(message)}))
    assert message_from_data(stored[MESSAGE]) == message
    assert render(stored) == message_content(message)
    assert "msgtype" not in json.dumps(stored), "no Matrix wire format at rest"
    legacy = {"msgtype": "m.notice", "body": "b", "format": "org.matrix.custom.html", "formatted_body": "b"}
    assert render(legacy) == legacy
    file = render({ATTACHMENT: {"filename": "protokoll.html", "mimetype": "text/html", "data": "<p>x</p>"}})
    assert file["msgtype"] == "m.file" and file["info"] == {"mimetype": "text/html", "size": 8}


def test_only_a_yes_acknowledges() -> None:
    """✅ 👍 (any skin tone, with or without the variation selector) say yes; 👎 ❌ and the rest never do."""
    from bot.messages import approves

    for yes in ("✅", "👍", "👍🏽", "✔️", "☑️", "👌", "✅\ufe0f"):
        assert approves(yes), yes
    for no in ("👎", "👎🏻", "❌", "✖️", "🚫", "⛔", "🙅", "👀", "", "ja", "✅✅", "👍👎"):
        assert not approves(no), no
