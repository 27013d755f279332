"""What the bot polls over HTTP (SMHI's warnings, rota calendars): fetched politely, parsed into domain values,
the last good copy kept. Only this package knows HTTP and the feeds' formats."""
