"""Development tools outside the installed package: a throwaway Synapse and the scripted demo."""
