"""Resources and the one environment switch they derive from."""
