"""The catalog stage: sources listed, files looked at, catalogued or quarantined."""
