"""The MLflow tracking store: runs keyed by config hash, the fast run index, what each run logs, the outbox that survives outages, the one-driver lease, the store URI and the UI server."""
