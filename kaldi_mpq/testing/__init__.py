"""Factories for small generated test inputs (dummy lattices, tiny LMs, texts), shipped with the package."""
