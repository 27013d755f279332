"""Prometheus metrics, served only when `[metrics] listen` is set: what an operator watches at 03:00.

Counters move after the transaction that did the work has committed, so a rolled-back command
counts nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, start_http_server

CONVOCATIONS = Counter("samverkan_convocations", "Convocations sent, by kind (activation, extra, or the meeting kind)",
                       ["kind"])
ACKNOWLEDGEMENTS = Counter("samverkan_acknowledgements", "Summoned functions that acknowledged")
ESCALATIONS = Counter("samverkan_escalations", "Escalation steps run: reminders, deputies convened, chair told")
COMMANDS = Counter("samverkan_commands", "Commands handled, by outcome (ok, refused, error, incident)",
                   ["outcome"])
SMS_ACCEPTED = Counter("samverkan_sms_accepted", "SMS the gateway accepted for delivery")
CALLS_DIALLED = Counter("samverkan_calls_dialled", "Voice calls dialled")
MESSAGES_SENT = Counter("samverkan_messages_sent", "Messages the homeserver accepted from the outbox")
OUTBOX_BACKLOG = Gauge("samverkan_outbox_backlog", "Messages due and not yet delivered at the outbox's last look")
SYNC_LAG = Gauge("samverkan_sync_lag_seconds", "Seconds since the last successful sync with the homeserver")


def serve(listen: str, sync_lag: Callable[[], float]) -> None:
    """Serve /metrics on `host:port` from a background thread."""
    host, _, port = listen.rpartition(":")
    SYNC_LAG.set_function(sync_lag)
    start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1")
