"""Assets materialised on a real DuckDB file and a local or Azurite blob store."""
