"""The test suite: real services, no mocks (see the folders' own docstrings)."""
