"""The crisis room's live board: pages and server-sent events over aiohttp, for members only (a widget's OpenID
token checked at its homeserver, or a link made for a wall screen). Only this package knows HTTP for it."""
