"""The code location: one sub-package per stage, merged in ``assets.definitions``."""
