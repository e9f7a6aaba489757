"""The submit APIs: request schema, parsing, intake into the queue."""
