"""The Dagster UI in headless Chromium, on a demo-materialised instance."""
