"""Grid files: the strict YAML reader, the schema, `--set` overrides, expansion into hashed trials, each trial's resources and the up-front checks."""
