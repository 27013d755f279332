"""The engine: events and due work become one transaction each (dispatch), timers, the meeting scheduler."""
