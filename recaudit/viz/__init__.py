"""Chart builders: data in, plotly Figure out (no Streamlit, so reports and tests can use them)."""

from recaudit.viz.charts import (
    domain_counts_bar,
    head_size,
    metric_comparison_bar,
    popularity_curve,
    training_curve,
)

__all__ = [
    "domain_counts_bar",
    "head_size",
    "metric_comparison_bar",
    "popularity_curve",
    "training_curve",
]
