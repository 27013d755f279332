"""Alembic migrations: frozen revision files in versions/, applied by `bot.state.db.Database.migrate`."""
