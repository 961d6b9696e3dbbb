"""Real services: the blob-store contract on Azurite, the production instance on PostgreSQL."""
