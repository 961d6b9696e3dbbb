"""Sensors and schedules: their cursors, ticks, retries and the runs they request."""
