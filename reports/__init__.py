"""Reports: MLflow runs into pandas, then the paper's tables, figures and one HTML page (no torch).

runs.load_runs reads the FINISHED runs once; everything else is a pure function of that
DataFrame: select (which runs a table takes), cells (seeds and configs per cell, the no-mixing
rule), significance (the bold rule), table (a table as data), tables and ratios (Tables 1-4),
paper and compare (the published numbers, --compare paper), latex and html (the two renderings of
a table), figures and plots (Figure 5 and the others), and build.write_report, which writes every
file and says what it wrote or skipped.
"""
