"""What one reconcile of each kind does, shared by the kopf handlers and the `cutlass` CLI.

A workflow takes the specs (and a Secret's data when the credentials live in one), talks to
AWS through the engine, and returns a report; turning the report into a status is pure.
"""
