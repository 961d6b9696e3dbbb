"""The fault suite: faults injected for real, what is left compared with a clean run."""
