"""Labels people confirm or correct, recorded for the next split."""
