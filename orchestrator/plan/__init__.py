"""What a grid will do before it runs: the dry-run's plan and its cost estimate."""
