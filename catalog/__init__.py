"""zfsweep's vocabulary: every name and knob of the ZeroFlow benchmark (arXiv 2501.01045), declared once.

The ground floor of the project: it imports only the standard library, so orchestrator/, trainers/,
reports/ and bench/ may all import it. What lives here:
- errors.py      InputError, the root of every bad-input error (exit code 2, never retried)
- optimizers.py  the optimizer table: family, flags, defaults, label, preset family, strategy class
- config.py      TrialConfig: one field per knob, each with its rule (type, default, range or values)
- names.py       methods, data sets and profiles
- paper.py       the published numbers (Tables 1-4 and the combined enhancements)
- records.py     the MLflow record names (tags, metrics) shared by writer and reader
docs/extending.md says where a new optimizer, method or data set goes.
"""
