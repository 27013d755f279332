"""Alembic's environment for the bot: migrations run on the connection `bot.state.db` hands over
(online), or print their SQL for a database administrator (offline, `python -m bot migrate --sql`)."""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
else:
    context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
