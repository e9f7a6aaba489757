"""Cell data in bulk: the MLS cell CSV, imports, vectorised updates."""
