"""The external fallback provider asked when no station answers."""
