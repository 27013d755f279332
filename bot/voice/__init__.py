"""The voice channel: calls through a SIP user agent (Debian's baresip) the bot starts and drives over its
`ctrl_tcp` interface. `useragent` runs and talks to it, `speech` renders what a call says, `caller` dials the
call rows the flows wrote and reports how each ended. Only this package knows baresip and espeak-ng."""
