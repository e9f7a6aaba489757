"""The public pages: one Jinja environment, the templates and the static files."""
