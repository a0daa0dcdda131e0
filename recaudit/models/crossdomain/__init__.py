"""Cross-domain transfer: per-domain target-only models, EMCDR maps and a gate (see model.py)."""
