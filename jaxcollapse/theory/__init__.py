"""Closed-form theory for self-consuming chains: pure NumPy functions of the settings."""
