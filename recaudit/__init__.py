"""recaudit: audit what a recommender does to people and catalogues.

The package is usable without Streamlit: data loading and validation (:mod:`recaudit.data`), the model
bundle (:mod:`recaudit.bundle`), torch models (:mod:`recaudit.models`), scoring (:mod:`recaudit.scoring`),
metrics (:mod:`recaudit.metrics`), chart builders (:mod:`recaudit.viz`) and the CLI (:mod:`recaudit.cli`).
"""

import os as _os

# torch's OpenMP threads spin-wait by default. On a shared or small machine (a 2-core CI box, a Streamlit
# server with other work) a descheduled spinning thread turns a 0.1 ms matmul into tens of ms; passive
# waiting removes that. Must be set before torch is imported, so it lives here; an explicit setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
