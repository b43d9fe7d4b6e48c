"""The run report (``catdeploy report``): discover the run's models, collect their numbers, draw
them (plots, matplotlib Agg), render Markdown + a self-contained HTML page, write atomically.
Entry point: catdeploy.report.build.build_report."""
