"""The modules loading the code location must not import (the steps that use them do)."""

# Loaded by the steps that use them, never by loading the code location.
HEAVY_MODULES = (
    "numba",
    "llvmlite",
    "assets.hashing.kernels",
    "assets.hashing.engine",
    "assets.decode",
    "assets.hashing.gray",
    "PIL",
    "pandas",
    "numpy",
    "pyarrow",
    "duckdb",
    "onnx",
    "onnxruntime",
    "sklearn",
    "matplotlib",
    "scipy",
    "azure.storage.blob",
    "azure.identity",
    "dagster_azure",
    "dbt.parser",
    # dbt-core's selection engine: the dbt assets take every node of the manifest without it.
    "dbt.graph",
    "networkx",
)
