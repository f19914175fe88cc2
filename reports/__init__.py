"""Reports: MLflow runs into pandas, then the paper's tables and figure (no torch here).

runs.load_runs reads the FINISHED runs once; everything else is a pure function of that
DataFrame: select (which runs a table takes), cells (seeds and configs per cell), significance
(the bold rule), latex (booktabs pieces), tables and ratios (Tables 1-4), figures (Figure 5),
paper and compare (the published numbers, --compare paper), and build.write_report, which
writes every file and says what it wrote or skipped.
"""
