"""NetAtlas: a crowd-sourced location service and community broadband observatory."""

__version__ = "0.1.0"
