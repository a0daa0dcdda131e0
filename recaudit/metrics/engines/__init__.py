"""The metric catalogue beyond one machine: the aggregation metrics as Ibis expressions.

The in-memory engine (:func:`recaudit.metrics.evaluate`) turns a log into NumPy arrays; it is the reference.
The engines here run the same definitions (docs/metrics.md) as Ibis expressions over four tables (the
recommendation log, train, test, items), so the numbers come from where the data lives:

- ``duckdb``: embedded DuckDB over parquet/CSV files or globs, the default for logs too large for memory;
- ``spark``: PySpark (an optional extra, ``pip install recaudit[spark]``), local or a cluster's session.

Modules, one job each:

- :mod:`~recaudit.metrics.engines.backends`: connect to an engine and read files into Ibis tables with the
  input layer's rules (string ids, stripped; ranks integers >= 1; one clear error per bad file);
- :mod:`~recaudit.metrics.engines.lists`: the log cleaned exactly as :meth:`RecLists.from_frame` cleans it
  (unknown items dropped, repeated items kept once, gaps closed, cut at k), with the same drop counts;
- :mod:`~recaudit.metrics.engines.expressions`: the metrics;
- :mod:`~recaudit.metrics.engines.evaluate`: :func:`evaluate_engine`, an :class:`AuditResult` like the
  in-memory engine's.

A metric an engine does not run (its :attr:`MetricSpec.engines` lacks it) is skipped with that reason, never
approximated. Heavy work stays in the engine (joins, group-bys); what comes back to the driver is small: one
row per metric, histograms over *distinct* exposure counts, and per-user values only when a bootstrap CI is
asked for.
"""

from __future__ import annotations

ENGINES = ("memory", "duckdb", "spark")
"""Every engine ``recaudit metrics --engine`` accepts; ``memory`` is the reference."""

IBIS_ENGINES = ("duckdb", "spark")
