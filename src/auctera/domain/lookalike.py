"""The lookalike model: tell the seed's visitors from the rest of the population, then keep the
non-seed visitors who look most like the seed.

Pure computation (numpy, scipy sparse matrices, scikit-learn), like the auction kernel: the
caller reads the event log and writes the result. Each visitor is one row of features: its most
frequent publisher, country, device type, hour of day and campaign (one-hot) and its
impression, click and conversion counts (log-scaled). A logistic regression is trained on the
seed against a sample of the population, scored on a 25% holdout (ROC AUC), and then ranks
every visitor of the population.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_SEED = 20  # seed visitors in the population below which no model is worth training
NEGATIVES_PER_SEED = 10
MAX_NEGATIVES = 200_000
_CATEGORICAL = 5  # publisher, country, device, hour, campaign: columns 1-5 of a feature row


class LookalikeFailed(Exception):
    """The build cannot go on; the message is shown on the audience."""


@dataclass(frozen=True, slots=True)
class LookalikeResult:
    members: list[str]  # visitor uids, the most similar first
    auc: float  # on the holdout
    population: int  # visitors in the geo
    seed_in_population: int


def build(
    rows: Sequence[tuple[Any, ...]],
    seed: Collection[str],
    geo: Collection[str],
    percent_bp: int,
    random_state: int = 0,
) -> LookalikeResult:
    """`rows` as `AudienceGraph.visitor_features` gives them; `geo` empty: every country."""
    # Imported here: scikit-learn takes about a second to import, which every process (the CLI
    # included) would pay at start for a build only the audience worker runs.
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    wanted = {g.upper() for g in geo}
    population = [r for r in rows if not wanted or (r[2] or "").upper() in wanted]
    if not population:
        raise LookalikeFailed("no visitors in the geo in the event log")
    uids = np.array([r[0] for r in population], dtype=object)
    is_seed = np.fromiter((u in seed for u in uids), dtype=bool, count=len(uids))
    positives = int(is_seed.sum())
    if positives < MIN_SEED:
        raise LookalikeFailed(
            f"the seed audience has {positives} visitors in the geo; at least {MIN_SEED} are needed"
        )
    features = _matrix(population)
    rng = np.random.default_rng(random_state)
    others = np.flatnonzero(~is_seed)
    if len(others) < MIN_SEED:
        raise LookalikeFailed("the geo has hardly any visitors outside the seed audience")
    sample = rng.choice(
        others, min(len(others), max(NEGATIVES_PER_SEED * positives, 5_000), MAX_NEGATIVES), replace=False
    )
    train_rows = np.concatenate([np.flatnonzero(is_seed), sample])
    labels = is_seed[train_rows].astype(np.int8)
    x_fit, x_hold, y_fit, y_hold = train_test_split(
        features[train_rows], labels, test_size=0.25, stratify=labels, random_state=random_state
    )
    model = LogisticRegression(max_iter=300, class_weight="balanced")
    model.fit(x_fit, y_fit)
    auc = float(roc_auc_score(y_hold, model.decision_function(x_hold)))
    keep = max(1, math.ceil(len(population) * percent_bp / 10_000))
    scores = model.decision_function(features[others])
    top = others[np.argsort(-scores, kind="stable")[:keep]]
    return LookalikeResult([str(u) for u in uids[top]], round(auc, 4), len(population), positives)


def _matrix(rows: Sequence[tuple[Any, ...]]) -> Any:
    """One-hot categoricals and log-scaled counts, as one sparse matrix (a row per visitor)."""
    from scipy import sparse

    n = len(rows)
    blocks = []
    for column in range(1, 1 + _CATEGORICAL):
        values = np.array(["" if r[column] is None else str(r[column]) for r in rows], dtype=object)
        _, codes = np.unique(values, return_inverse=True)
        width = int(codes.max()) + 1
        blocks.append(sparse.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, width)))
    counts = np.array([r[1 + _CATEGORICAL :] for r in rows], dtype=np.float64)
    blocks.append(sparse.csr_matrix(np.log1p(counts)))
    return sparse.hstack(blocks, format="csr")
