"""Pure code and the repository's shape: kernels, rules, SQL text, definitions, docs."""
