"""kopf handlers for the two kinds, registered on an explicit registry (no import-time globals)."""
