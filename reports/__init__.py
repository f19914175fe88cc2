"""Reports: MLflow runs into pandas, then the paper's tables and figure (no torch here)."""
