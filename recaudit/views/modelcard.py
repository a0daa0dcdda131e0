"""The model card of a bundle as plain text (``recaudit info``) and as rows for the app."""

from __future__ import annotations

from typing import Any

import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import DOMAIN, ITEM_ID, USER_ID
from recaudit.formatting import format_value


def domain_counts(bundle: Bundle) -> pd.DataFrame:
    """Items, users and train/test interactions per domain (one row ``all`` when there are no domains)."""
    items = bundle.items
    domain_of = (
        items.set_index(ITEM_ID)[DOMAIN].astype(str) if DOMAIN in items.columns else None
    )
    rows = []
    domains = bundle.domains or ["all"]
    for domain in domains:
        row: dict[str, Any] = {"domain": domain}
        in_domain = items if domain_of is None else items[items[DOMAIN].astype(str) == domain]
        row["items"] = len(in_domain)
        for name, frame in (("train", bundle.train), ("test", bundle.test)):
            if frame is None:
                row[f"{name}_interactions"] = 0
                continue
            part = frame if domain_of is None else frame[frame[ITEM_ID].map(domain_of) == domain]
            row[f"{name}_interactions"] = len(part)
            if name == "train":
                row["users"] = part[USER_ID].nunique()
        rows.append(row)
    columns = ["domain", "users", "items", "train_interactions", "test_interactions"]
    return pd.DataFrame(rows).reindex(columns=columns).fillna(0)


def coldstart_summary(manifest: dict) -> str | None:
    """One line on a ``coldstart`` bundle's content path (from ``training.coldstart``), else None."""
    info = (manifest.get("training") or {}).get("coldstart")
    if not isinstance(info, dict):
        return None
    text = f"{info.get('content', '?')} content encoder"
    if info.get("n_items") is not None:
        alone, total = int(info.get("n_content_only", 0)), int(info["n_items"])
        text += f"; {alone:,} of {total:,} items from content alone"
    prior, newcomer = info.get("prior_strength"), info.get("newcomer_prior")
    if prior is not None:
        text += "; blend learned: trained items " + (
            "collaborative alone" if prior == 0 else f"w(n) = {prior:g} / ({prior:g} + n) content"
        )
        text += f", newcomers w(n) = {newcomer:g} / ({newcomer:g} + n)" if newcomer is not None else ""
    else:
        shares = "/".join(f"{float(w):.0%}" for w in info.get("weights") or [])
        text += f"; blend schedule {shares} content by bucket (n = 0 | 1-10 | 11-50 | 51+)"
        if info.get("learned_fallback"):
            text += f" ({info['learned_fallback']})"
    return text


def session_summary(manifest: dict) -> str | None:
    """One line on a bundle's session encoder (from ``training.session``), else None."""
    info = (manifest.get("training") or {}).get("session")
    if not isinstance(info, dict):
        return None
    name = {"gru": "GRU4Rec", "sasrec": "SASRec"}.get(str(info.get("encoder")), str(info.get("encoder", "?")))
    text = f"{name} encoder on {int(info.get('train_sessions') or 0):,} sessions"
    text += f", best epoch {info.get('best_epoch')} of {info.get('epochs_run')}"
    return text + (f"; {info['fusion']}" if info.get("fusion") else "")


def model_card_text(bundle: Bundle) -> str:
    """A human-readable summary of what the bundle is, what trained it and how well it does."""
    m = bundle.manifest
    model = m.get("model", {})
    lines = [
        f"bundle      {bundle.path}",
        f"format      {m.get('format')} v{m.get('format_version')}, created {m.get('created', '?')}",
        f"model       {model.get('kind', '?')}, dim {bundle.dim}, score {bundle.score}, "
        f"item bias {'yes' if bundle.item_bias is not None else 'no'}",
        f"catalogue   {len(bundle.users):,} users x {len(bundle.items):,} items"
        + (f", domains: {', '.join(bundle.domains)}" if bundle.domains else ""),
    ]
    data, training = m.get("data") or {}, m.get("training") or {}
    optional = [
        ("data", bool(data), lambda: f"train {data.get('n_train')}, test {data.get('n_test')} interactions; "
         f"fingerprint {str(data.get('train_fingerprint'))[:16]}"),
        ("sources", bool(data.get("source")), lambda: str(data.get("source"))),
        ("training", bool(training), lambda: f"best epoch {training.get('best_epoch')} of "
         f"{training.get('epochs_run')}, {training.get('seconds')} s on {training.get('device')}"),
        ("cold start", coldstart_summary(m) is not None, lambda: str(coldstart_summary(m))),
        ("session", session_summary(m) is not None, lambda: str(session_summary(m))),
        ("config", bool(model.get("config")),
         lambda: ", ".join(f"{k}={v}" for k, v in model["config"].items())),
    ]
    lines += [f"{label:<11} {text()}" for label, present, text in optional if present]
    evaluation = m.get("evaluation", {})
    for name in ("model", "popularity"):
        if name in evaluation:
            scores = ", ".join(f"{k} {format_value(v)}" for k, v in evaluation[name].items())
            lines.append(f"{name:<11} {scores}")
    for domain, table in (evaluation.get("domains") or {}).items():
        for name in ("model", "popularity"):
            if name in table:
                scores = ", ".join(f"{k} {format_value(v)}" for k, v in table[name].items())
                lines.append(f"{name:<11} [{domain}] {scores}")
    if evaluation:
        per_domain = " (each test item ranked within its domain)" if evaluation.get("domains") else ""
        lines.append(f"evaluated   {evaluation.get('n_users')} users with held-out items{per_domain}")
    versions = m.get("versions", {})
    if versions:
        lines.append("versions    " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return "\n".join(lines)


_TRAINING_LABELS = {
    "best_epoch": "best epoch",
    "epochs": "epochs",
    "epochs_run": "epochs run",
    "device": "training device",
    "seconds": "training time (s)",
    "train_seconds": "training time (s)",
    "training_seconds": "training time (s)",
}


def model_card_table(bundle: Bundle) -> pd.DataFrame:
    """The bundle's model card as ``field, value`` string rows (config is rendered separately)."""
    manifest = bundle.manifest
    rows: list[tuple[str, str]] = [
        ("bundle", bundle.name),
        ("model kind", str(manifest.get("model", {}).get("kind", "?"))),
        ("score function", str(bundle.score)),
        ("dimension", str(bundle.dim)),
        ("item bias", "yes" if bundle.item_bias is not None else "no"),
        ("created", str(manifest.get("created", "?"))),
    ]
    for key, value in (manifest.get("training") or {}).items():
        if isinstance(value, (dict, list)):
            continue  # per-epoch history and nested settings are not one-line values
        rows.append((_TRAINING_LABELS.get(key, key.replace("_", " ")), format_value(value, general=True)))
    cold = coldstart_summary(manifest)
    if cold is not None:
        rows.append(("cold start", cold))
    session = session_summary(manifest)
    if session is not None:
        rows.append(("session", session))
    data = manifest.get("data") or {}
    if data.get("train_fingerprint"):
        rows.append(("training data fingerprint (sha256)", str(data["train_fingerprint"])))
    for key, value in data.items():
        if key != "train_fingerprint" and not isinstance(value, (dict, list)) and value is not None:
            rows.append((f"data: {key.replace('_', ' ')}", format_value(value, general=True)))
    versions = manifest.get("versions") or {}
    if versions:
        rows.append(("library versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return pd.DataFrame(rows, columns=["field", "value"])
