"""recaudit: audit what a recommender does to people and catalogues.

The package is usable without Streamlit: data loading and validation (:mod:`recaudit.data`), the model
bundle (:mod:`recaudit.bundle`), torch models (:mod:`recaudit.models`), scoring (:mod:`recaudit.scoring`),
metrics (:mod:`recaudit.metrics`), chart builders (:mod:`recaudit.viz`) and the CLI (:mod:`recaudit.cli`).
"""

__version__ = "0.1.0"
