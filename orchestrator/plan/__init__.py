"""What a grid will do before it runs: which trials are finished (plan.py), the dry-run's plan
(dryrun.py), its cost estimate (cost.py) and the trials a report lists as missing (missing.py)."""
