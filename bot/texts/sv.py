"""Svenska texter (standardspråket)."""

TEXTS: dict[str, str] = {
    # errors
    "error.unknown_sender": "Du ({user}) finns inte bland funktionerna i samverkansmodellen, så jag kan inte "
    "ta emot kommandon från dig. Kontakta en administratör om du borde finnas med.",
    "error.unknown_command": "Det finns inget kommando {command}.",
    "error.did_you_mean": "Menade du {suggestions}?",
    "error.see_help": "Skriv !hjälp för alla kommandon.",
    "error.usage": "Användning: {usage}",
    "error.incident": "Något gick fel hos mig (incident {incident}). Inget ändrades. Försök igen, och "
    "nämn incidentnumret för en administratör om det händer igen.",
    "error.unknown_name": "Okänd {kind}: {name}.",
    "error.known_names": "Finns: {names}.",
    "error.missing_arg": "Ange {arg}.",
    "error.too_long": "{arg} är för långt (högst {limit} tecken).",
    "error.extra_args": "Jag förstod inte: {extra}.",
    "error.not_allowed": "Du får inte göra det: {reason}",
    "kind.forum": "forum",
    "kind.function": "funktion",
    "kind.organisation": "organisation",
    "kind.command": "kommando",
    "kind.forum_or_function": "namn",
    # argument names, shown in usage
    "arg.forum": "forum",
    "arg.command": "kommando",
    "arg.event": "händelse",
    "arg.function": "funktion",
    "arg.reason": "orsak",
    "arg.flags": "--ny",
    # help
    "help.title": "Kommandon (svenska och engelska namn fungerar båda):",
    "help.footer": "Skriv !hjälp <kommando> för detaljer.",
    "help.aliases": "Även: {aliases}",
    "help.admin_only": "Bara för administratörer.",
    # status
    "status.title": "Läget i forumen",
    "status.level.inriktande": "inriktande",
    "status.level.samordnande": "samordnande",
    "status.level.verkställande": "verkställande",
    "status.mode.ordinary": "ordinarie läge",
    "status.mode.activated": "AKTIVERAT",
    "status.chair": "ordförande",
    "status.composition": "{count} funktioner",
    "status.next_meeting": "nästa möte",
    "status.no_meeting": "inga planerade möten",
    "status.since": "sedan",
    "status.event": "händelse",
    "status.exercise": "ÖVNING",
    "status.history": "Senaste händelser",
    "status.members": "Sammansättning",
    "week": "v. {week}",
    # command help lines
    "cmd.hjälp": "Visa alla kommandon, eller ett i detalj.",
    "cmd.status": "Läget i alla forum: nivå, läge, händelse, ordförande, nästa möte.",
}
