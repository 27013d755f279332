"""The services commands and the runtime call: convocation, forums (activation), meetings and their
steps, lägesbild. Each owns its state changes (through bot/state) and returns the messages to send."""
