"""Multi-size dHash (sizes 1..8) bit-exact with the ``dhash`` package, for image datasets.

Pure and import-light: this package file imports nothing. Use ``assets.hashing.engine`` for the
API (``hash_bytes``, ``hash_many``, ``HASH_ALGORITHM_VERSION``) and ``python -m assets.hashing``
for the command line; ``assets.hashing.kernels`` holds the numba kernels.
"""
