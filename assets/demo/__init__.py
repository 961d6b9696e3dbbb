"""The demo collection and the commands that build it and run every asset on it."""
