"""PyTorch models for the tabular customs features: an entity-embedding MLP and a DATE variant.

Both predict two targets from one trunk: the offence logit (binary cross-entropy) and the
recovered revenue (Tweedie deviance, power 1.5, log link), fitted together. ``kind="tabular"``
embeds every categorical feature and the hashed raw importer/declarant IDs next to the
standardised numerics; ``kind="date"`` follows DATE (Kim et al., KDD 2020): the leaves of a small
XGBoost booster are tokens, attended to with a query built from the importer and HS6 embeddings.

The model is saved as a torch state_dict, a JSON of everything else and, for DATE, the booster's
XGBoost JSON; nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import torch
from torch import nn

Kind = Literal["tabular", "date"]
OnEpoch = Callable[[int, float], None]
ID_COLUMNS = ("importer_id", "declarant_id")

_WEIGHTS_FILE = "weights.pt"
_META_FILE = "model.json"
_BOOSTER_FILE = "booster.json"
_PREDICT_BATCH = 65_536
_HEAVY_ABS = 100.0  # numeric columns beyond this are asinh-compressed before standardising
_Z_CLIP = 8.0


@dataclass
class NeuralParams:
    """Hyper-parameters of both kinds; the DATE-only ones are ignored by ``tabular``."""

    embedding_max_dim: int = 16  # dim = min(max, round(1.6 * n_categories ** 0.56))
    id_dim: int = 16  # embedding dim of each hashed raw ID
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    lr: float = 3e-3
    weight_decay: float = 1e-5
    batch_size: int = 2048
    max_epochs: int = 30
    patience: int = 4
    monitor: str = "valid_auc"  # early stopping on "valid_auc" (higher) or "valid_loss" (lower)
    revenue_weight: float = 0.1
    tweedie_power: float = 1.5
    revenue_clip_quantile: float = 0.99  # of the positive training revenues; tames the deviance
    n_hash_buckets: int = 2**14
    seed: int = 0
    n_threads: int = 2
    n_trees: int = 64
    tree_depth: int = 4
    tree_eta: float = 0.1
    leaf_dim: int = 16
    attention_heads: int = 2

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NeuralParams:
        return cls(**{**data, "hidden": tuple(data["hidden"])})


def embedding_dim(n_categories: int, max_dim: int) -> int:
    """The fast.ai rule of thumb, capped."""
    return max(2, min(max_dim, round(1.6 * n_categories**0.56)))


def stable_hash(values: pd.Series | np.ndarray, n_buckets: int) -> np.ndarray:
    """Bucket in [1, n_buckets) of each string by blake2b (stable across processes); 0 = missing.

    Hashes each distinct value once, so it costs little on millions of rows."""
    codes, uniques = pd.factorize(pd.Series(values, copy=False), use_na_sentinel=True)
    digests = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(str(u).encode(), digest_size=8).digest(), "little")
            for u in uniques
        ),
        dtype=np.uint64,
        count=len(uniques),
    )
    buckets = np.append((digests % np.uint64(n_buckets - 1)).astype(np.int64) + 1, 0)
    return buckets[codes]  # the sentinel -1 picks the appended 0


# --------------------------------------------------------------------------- encoding


@dataclass
class _Encoder:
    """Turns a feature frame and its IDs into tensors; fitted on the training rows."""

    numeric: list[str]
    heavy: list[bool]
    mean: list[float]
    std: list[float]
    indicators: list[str]
    categories: dict[str, list[Any]]
    n_buckets: int

    @classmethod
    def fit(cls, frame: pd.DataFrame, n_buckets: int) -> _Encoder:
        numeric = [c for c in frame.columns if not isinstance(frame[c].dtype, pd.CategoricalDtype)]
        values = frame[numeric].to_numpy(dtype=np.float64)
        with np.errstate(all="ignore"), _quiet():
            heavy = np.nanmax(np.abs(values), axis=0) > _HEAVY_ABS
            scaled = np.where(heavy, np.arcsinh(values), values)
            mean = np.nan_to_num(np.nanmean(scaled, axis=0))
            std = np.nanstd(scaled, axis=0)
        std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)
        missing = np.isnan(values).any(axis=0)
        categorical = [c for c in frame.columns if c not in numeric]
        return cls(
            numeric=numeric,
            heavy=[bool(h) for h in heavy],
            mean=mean.tolist(),
            std=std.tolist(),
            indicators=[c for c, m in zip(numeric, missing, strict=True) if m],
            categories={c: frame[c].cat.categories.tolist() for c in categorical},
            n_buckets=n_buckets,
        )

    @property
    def vocab_sizes(self) -> list[int]:
        return [len(v) + 1 for v in self.categories.values()]

    @property
    def n_numeric_inputs(self) -> int:
        return len(self.numeric) + len(self.indicators)

    def index(self, column: str) -> pd.Index:
        """The training categories of ``column`` as an index (cached: built once per column)."""
        cache = self.__dict__.setdefault("_indexes", {})
        if column not in cache:
            cache[column] = pd.Index(self.categories[column])
        return cache[column]

    def codes(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        """Training-category codes of ``column`` (-1 unknown or missing), recoding if needed."""
        values, categories = frame[column], self.index(column)
        if isinstance(values.dtype, pd.CategoricalDtype):
            if values.cat.categories.equals(categories):
                return values.cat.codes.to_numpy(dtype=np.int64)
            values = values.astype(object)
        return categories.get_indexer(pd.Index(values)).astype(np.int64)

    def aligned(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The training columns with the training categories (what the DATE booster reads)."""
        out = frame[self.numeric + list(self.categories)]
        for column in self.categories:
            values = out[column]
            if isinstance(values.dtype, pd.CategoricalDtype) and values.cat.categories.equals(
                self.index(column)
            ):
                continue
            codes = self.codes(out, column)
            recoded = pd.Categorical.from_codes(codes, categories=self.index(column))
            out = out.assign(**{column: recoded})
        return out

    def numeric_tensor(self, frame: pd.DataFrame) -> torch.Tensor:
        """Standardised numerics (NaN -> 0, clipped) then the missing indicators."""
        values = frame[self.numeric].to_numpy(dtype=np.float64)
        heavy = np.asarray(self.heavy, dtype=bool)
        with np.errstate(all="ignore"):
            z = (np.where(heavy, np.arcsinh(values), values) - self.mean) / self.std
        z = np.clip(np.nan_to_num(z, nan=0.0, posinf=_Z_CLIP, neginf=-_Z_CLIP), -_Z_CLIP, _Z_CLIP)
        position = {c: j for j, c in enumerate(self.numeric)}
        flags = np.isnan(values[:, [position[c] for c in self.indicators]])
        return torch.from_numpy(np.hstack([z, flags]).astype(np.float32))

    def category_tensor(self, frame: pd.DataFrame) -> torch.Tensor:
        """Codes + 1 per categorical column (0 = unknown or missing)."""
        codes = [self.codes(frame, c) + 1 for c in self.categories]
        if not codes:
            return torch.zeros((len(frame), 0), dtype=torch.int64)
        return torch.from_numpy(np.stack(codes, axis=1))

    def id_tensor(self, ids: pd.DataFrame) -> torch.Tensor:
        hashed = [stable_hash(ids[c].to_numpy(dtype=object), self.n_buckets) for c in ID_COLUMNS]
        return torch.from_numpy(np.stack(hashed, axis=1).astype(np.int64))

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# --------------------------------------------------------------------------- networks


def _mlp(n_in: int, hidden: tuple[int, ...], dropout: float) -> tuple[nn.Sequential, int]:
    """Linear-SiLU-dropout layers and the width they end with."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), nn.SiLU(), nn.Dropout(dropout)]
        n_in = width
    return nn.Sequential(*layers), n_in


def _small_init(*embeddings: nn.Embedding, std: float = 0.05) -> None:
    """Near-zero embeddings: rare categories and hash buckets start as noise-free as unknowns."""
    for embedding in embeddings:
        nn.init.normal_(embedding.weight, std=std)


class _TwoHeads(nn.Module):
    """Offence logit and log expected (scaled) revenue from one representation.

    The log revenue is softly capped at ``max_log_revenue`` (set by the fit to e times the largest
    winsorised training recovery, saved with the weights) so one row cannot blow up the deviance."""

    max_log_revenue: torch.Tensor  # a buffer (register_buffer below)

    def __init__(self, n_in: int):
        super().__init__()
        self.offence = nn.Linear(n_in, 1)
        self.revenue = nn.Linear(n_in, 1)
        self.register_buffer("max_log_revenue", torch.tensor(12.0))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.revenue(h).squeeze(1)
        log_mu = self.max_log_revenue - nn.functional.softplus(self.max_log_revenue - raw)
        return self.offence(h).squeeze(1), log_mu


class TabularNet(nn.Module):
    """Entity embeddings (categoricals and hashed IDs) + numerics -> MLP -> two heads."""

    def __init__(self, vocab_sizes: list[int], n_numeric: int, params: NeuralParams):
        super().__init__()
        dims = [embedding_dim(n, params.embedding_max_dim) for n in vocab_sizes]
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, d) for n, d in zip(vocab_sizes, dims, strict=True)
        )
        self.ids = nn.ModuleList(
            nn.Embedding(params.n_hash_buckets, params.id_dim) for _ in ID_COLUMNS
        )
        n_in = sum(dims) + params.id_dim * len(ID_COLUMNS) + n_numeric
        self.trunk, width = _mlp(n_in, params.hidden, params.dropout)
        self.heads = _TwoHeads(width)
        _small_init(*self.embeddings, *self.ids)

    def forward(
        self, numeric: torch.Tensor, categories: torch.Tensor, ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [emb(categories[:, j]) for j, emb in enumerate(self.embeddings)]
        parts += [emb(ids[:, j]) for j, emb in enumerate(self.ids)]
        return self.heads(self.trunk(torch.cat([*parts, numeric], dim=1)))


class DateNet(nn.Module):
    """DATE: tree-leaf tokens attended with an importer x HS6 query -> MLP -> two heads."""

    def __init__(self, n_tokens: int, n_hs6: int, params: NeuralParams):
        super().__init__()
        d = params.leaf_dim
        self.leaves = nn.Embedding(n_tokens, d)
        self.importer = nn.Embedding(params.n_hash_buckets, d)
        self.hs6 = nn.Embedding(n_hs6, d)
        self.attention = nn.MultiheadAttention(
            d, params.attention_heads, dropout=params.dropout, batch_first=True
        )
        self.trunk, width = _mlp(5 * d, params.hidden, params.dropout)
        self.heads = _TwoHeads(width)
        _small_init(self.leaves, self.importer, self.hs6)

    def forward(
        self, leaves: torch.Tensor, importer: torch.Tensor, hs6: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.leaves(leaves)
        who, what = self.importer(importer), self.hs6(hs6)
        query = (who * what).unsqueeze(1)
        attended, _ = self.attention(query, tokens, tokens, need_weights=False)
        # the mean of the tokens keeps DATE's additive view of the trees next to the attention
        pooled = torch.cat([attended.squeeze(1), tokens.mean(1), who, what, query[:, 0]], 1)
        return self.heads(self.trunk(pooled))


# --------------------------------------------------------------------------- losses


def tweedie_deviance(log_mu: torch.Tensor, y: torch.Tensor, power: float) -> torch.Tensor:
    """Per-row Tweedie negative log-likelihood (up to terms free of mu), log link."""
    log_mu = log_mu.clamp(-20.0, 12.0)
    a = -y * torch.exp((1.0 - power) * log_mu) / (1.0 - power)
    return a + torch.exp((2.0 - power) * log_mu) / (2.0 - power)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC, NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=bool)
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


# --------------------------------------------------------------------------- boosters


def fit_leaf_booster(
    frame: pd.DataFrame,
    y: np.ndarray,
    params: NeuralParams,
    weights: np.ndarray | None = None,
) -> Any:
    """A small XGBoost classifier whose leaves are DATE's tokens."""
    import xgboost as xgb

    train = xgb.DMatrix(
        frame,
        label=np.asarray(y, dtype=np.float32),
        weight=weights,
        enable_categorical=True,
        nthread=params.n_threads,
    )
    config = {
        "objective": "binary:logistic",
        "max_depth": params.tree_depth,
        "eta": params.tree_eta,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "tree_method": "hist",
        "nthread": params.n_threads,
        "seed": params.seed,
    }
    return xgb.train(config, train, num_boost_round=params.n_trees)


def _leaf_tokens(booster: Any, frame: pd.DataFrame, params: NeuralParams) -> torch.Tensor:
    """Global token ids ``tree * nodes_per_tree + node`` of each row's leaves."""
    import xgboost as xgb

    matrix = xgb.DMatrix(frame, enable_categorical=True, nthread=params.n_threads)
    leaves = booster.predict(matrix, pred_leaf=True).astype(np.int64).reshape(len(frame), -1)
    per_tree = _nodes_per_tree(params)
    offsets = np.arange(leaves.shape[1], dtype=np.int64) * per_tree
    return torch.from_numpy(np.clip(leaves, 0, per_tree - 1) + offsets)


def _nodes_per_tree(params: NeuralParams) -> int:
    return 2 ** (params.tree_depth + 1) - 1


# --------------------------------------------------------------------------- model


@dataclass
class NeuralModel:
    """A fitted network with its encoder (and booster, for DATE); ``predict`` takes the feature
    frame and the raw IDs."""

    kind: Kind
    params: NeuralParams
    encoder: _Encoder
    net: nn.Module
    revenue_scale: float
    booster: Any = None
    history: list[dict[str, float]] = field(default_factory=list)

    def inputs(self, frame: pd.DataFrame, ids: pd.DataFrame) -> tuple[torch.Tensor, ...]:
        """The network's input tensors for ``frame`` and ``ids`` (rows aligned by position)."""
        if len(frame) != len(ids):
            raise ValueError(f"frame has {len(frame)} rows but ids has {len(ids)}")
        if self.kind == "tabular":
            return (
                self.encoder.numeric_tensor(frame),
                self.encoder.category_tensor(frame),
                self.encoder.id_tensor(ids),
            )
        frame = self.encoder.aligned(frame)
        hs6 = torch.from_numpy(frame["hs6"].cat.codes.to_numpy(dtype=np.int64) + 1)
        importer = self.encoder.id_tensor(ids)[:, 0]
        return _leaf_tokens(self.booster, frame, self.params), importer, hs6

    def predict(self, frame: pd.DataFrame, ids: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Offence probability in [0, 1] and expected recovered revenue >= 0 per row."""
        logit, log_mu = _forward_all(self.net, self.inputs(frame, ids))
        probability = torch.sigmoid(logit).numpy().astype(np.float64)
        revenue = torch.exp(log_mu.clamp(-20.0, 12.0)).numpy().astype(np.float64)
        return probability, revenue * self.revenue_scale

    def save(self, directory: str | Path) -> Path:
        """Write weights.pt, model.json and (DATE) booster.json into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), directory / _WEIGHTS_FILE)
        meta = {
            "kind": self.kind,
            "params": self.params.to_json(),
            "encoder": self.encoder.to_json(),
            "revenue_scale": self.revenue_scale,
            "history": self.history,
        }
        (directory / _META_FILE).write_text(json.dumps(meta, indent=1))
        if self.booster is not None:
            self.booster.save_model(str(directory / _BOOSTER_FILE))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> NeuralModel:
        """Rebuild a model written by :meth:`save`."""
        directory = Path(directory)
        meta = json.loads((directory / _META_FILE).read_text())
        params = NeuralParams.from_json(meta["params"])
        encoder = _Encoder(**meta["encoder"])
        booster = None
        if meta["kind"] == "date":
            import xgboost as xgb

            booster = xgb.Booster()
            booster.load_model(str(directory / _BOOSTER_FILE))
        net = _build_net(meta["kind"], encoder, params, booster)
        state = torch.load(directory / _WEIGHTS_FILE, weights_only=True)
        net.load_state_dict(state)
        net.eval()
        return cls(
            meta["kind"], params, encoder, net, meta["revenue_scale"], booster, meta["history"]
        )


def _build_net(kind: str, encoder: _Encoder, params: NeuralParams, booster: Any) -> nn.Module:
    if kind == "tabular":
        return TabularNet(encoder.vocab_sizes, encoder.n_numeric_inputs, params)
    if kind == "date":
        n_trees = booster.num_boosted_rounds()
        return DateNet(
            n_trees * _nodes_per_tree(params), len(encoder.categories["hs6"]) + 1, params
        )
    raise ValueError(f"kind must be 'tabular' or 'date', got {kind!r}")


def _forward_all(
    net: nn.Module, inputs: tuple[torch.Tensor, ...], batch: int = _PREDICT_BATCH
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched, gradient-free forward pass in eval mode."""
    net.eval()
    logits, revenues = [], []
    with torch.no_grad():
        for start in range(0, len(inputs[0]), batch):
            logit, log_mu = net(*(t[start : start + batch] for t in inputs))
            logits.append(logit)
            revenues.append(log_mu)
    if not logits:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(logits), torch.cat(revenues)


# --------------------------------------------------------------------------- training


@dataclass
class _Targets:
    offence: torch.Tensor
    revenue: torch.Tensor  # divided by the model's revenue_scale
    weight: torch.Tensor

    @classmethod
    def of(cls, y: Any, revenue: Any, scale: float, weights: Any = None) -> _Targets:
        offence = np.asarray(y, dtype=np.float32)
        amount = np.nan_to_num(np.asarray(revenue, dtype=np.float64), nan=0.0).clip(min=0) / scale
        weight = np.ones(len(offence)) if weights is None else np.asarray(weights, dtype=np.float64)
        return cls(
            torch.from_numpy(offence),
            torch.from_numpy(amount.astype(np.float32)),
            torch.from_numpy(weight.astype(np.float32)),
        )

    def take(self, index: torch.Tensor) -> _Targets:
        return _Targets(self.offence[index], self.revenue[index], self.weight[index])


def _loss(
    net: nn.Module, inputs: tuple[torch.Tensor, ...], targets: _Targets, params: NeuralParams
) -> torch.Tensor:
    logit, log_mu = net(*inputs)
    bce = nn.functional.binary_cross_entropy_with_logits(logit, targets.offence, reduction="none")
    tweedie = tweedie_deviance(log_mu, targets.revenue, params.tweedie_power)
    per_row = bce + params.revenue_weight * tweedie
    return (per_row * targets.weight).sum() / targets.weight.sum()


def _validate(
    net: nn.Module, inputs: tuple[torch.Tensor, ...], targets: _Targets, params: NeuralParams
) -> dict[str, float]:
    """Validation loss (and its two parts) and offence AUC."""
    logit, log_mu = _forward_all(net, inputs)
    bce = float(nn.functional.binary_cross_entropy_with_logits(logit, targets.offence))
    tweedie = float(tweedie_deviance(log_mu, targets.revenue, params.tweedie_power).mean())
    return {
        "valid_loss": bce + params.revenue_weight * tweedie,
        "valid_bce": bce,
        "valid_tweedie": tweedie,
        "valid_auc": roc_auc(targets.offence.numpy(), logit.numpy()),
    }


def _init_heads(net: nn.Module, targets: _Targets) -> None:
    """Start the heads at the base rate and mean revenue so early steps are not spent there."""
    heads = cast(_TwoHeads, net.heads)
    w = targets.weight / targets.weight.sum()
    rate = float((w * targets.offence).sum().clamp(1e-4, 1 - 1e-4))
    mean_revenue = float((w * targets.revenue).sum().clamp(min=1e-6))
    top = float(targets.revenue.max().clamp(min=1e-6))
    with torch.no_grad():
        heads.max_log_revenue.fill_(math.log(top) + 1.0)
        heads.offence.bias.fill_(math.log(rate / (1 - rate)))
        heads.revenue.bias.fill_(math.log(mean_revenue))


def _train_epoch(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: tuple[torch.Tensor, ...],
    targets: _Targets,
    params: NeuralParams,
    rng: np.random.Generator,
) -> float:
    net.train()
    order = torch.from_numpy(rng.permutation(len(targets.offence)))
    total, n = 0.0, 0
    for start in range(0, len(order), params.batch_size):
        index = order[start : start + params.batch_size]
        loss = _loss(net, tuple(t[index] for t in inputs), targets.take(index), params)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimizer.step()
        total += float(loss.detach()) * len(index)
        n += len(index)
    return total / max(n, 1)


@contextmanager
def _torch_settings(params: NeuralParams) -> Iterator[None]:
    """Seeded, deterministic, thread-capped torch for the duration of a fit."""
    import torch.utils.deterministic as determinism

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    # fill_uninitialized_memory is a property of the module's class, which torch's types do not
    # show (hence the three attr-defined ignores)
    fill = determinism.fill_uninitialized_memory  # type: ignore[attr-defined]
    torch.set_num_threads(params.n_threads)
    torch.use_deterministic_algorithms(True)
    # NaN-filling every new tensor costs ~10%
    determinism.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    torch.manual_seed(params.seed)
    # Adam's second moments of rarely seen embedding rows decay into denormals, slow on x86
    flush = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flush:
            torch.set_flush_denormal(False)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        determinism.fill_uninitialized_memory = fill  # type: ignore[attr-defined]


def fit_neural(
    kind: Kind,
    train_frame: pd.DataFrame,
    train_ids: pd.DataFrame,
    y: Any,
    revenue: Any,
    valid_frame: pd.DataFrame,
    valid_ids: pd.DataFrame,
    y_valid: Any,
    revenue_valid: Any,
    params: NeuralParams | None = None,
    weights: Any = None,
    on_epoch: OnEpoch | None = None,
) -> NeuralModel:
    """Fit a ``tabular`` or ``date`` network on labelled rows, early-stopped on ``params.monitor``.

    ``y`` is the offence flag, ``revenue`` the recovered revenue (>= 0) of each training row;
    ``on_epoch(epoch, valid_auc)`` runs after every epoch and may raise (e.g. optuna.TrialPruned)
    to stop the fit: the exception propagates. The best epoch's weights are kept."""
    params = params or NeuralParams()
    if kind not in ("tabular", "date"):
        raise ValueError(f"kind must be 'tabular' or 'date', got {kind!r}")
    if params.monitor not in ("valid_auc", "valid_loss"):
        raise ValueError(f"monitor must be 'valid_auc' or 'valid_loss', got {params.monitor!r}")
    with _torch_settings(params):
        encoder = _Encoder.fit(train_frame, params.n_hash_buckets)
        booster = None
        if kind == "date":
            booster = fit_leaf_booster(encoder.aligned(train_frame), y, params, weights)
        scale = float(np.nanmean(np.asarray(revenue, dtype=np.float64)) or 1.0)
        scale = scale if math.isfinite(scale) and scale > 0 else 1.0
        model = NeuralModel(
            kind, params, encoder, _build_net(kind, encoder, params, booster), scale, booster
        )
        train_inputs = model.inputs(train_frame, train_ids)
        valid_inputs = model.inputs(valid_frame, valid_ids)
        cap = _revenue_cap(revenue, params.revenue_clip_quantile)
        targets = _Targets.of(
            y, np.minimum(np.asarray(revenue, dtype=np.float64), cap), scale, weights
        )
        valid_targets = _Targets.of(y_valid, np.minimum(revenue_valid, cap), scale)
        _run_epochs(model, train_inputs, targets, valid_inputs, valid_targets, on_epoch)
    # the net learns winsorised revenue; predictions are scaled back up to the uncapped total
    model.revenue_scale = scale * _uncapped_ratio(revenue, cap)
    model.net.eval()
    return model


def _uncapped_ratio(revenue: Any, cap: float) -> float:
    amount = np.nan_to_num(np.asarray(revenue, dtype=np.float64), nan=0.0).clip(min=0)
    capped = np.minimum(amount, cap).sum()
    return float(amount.sum() / capped) if capped > 0 else 1.0


def _revenue_cap(revenue: Any, quantile: float) -> float:
    """Winsorising cap: one seizure worth a thousand means would otherwise steer the trunk."""
    amount = np.asarray(revenue, dtype=np.float64)
    positive = amount[amount > 0]
    return float(np.quantile(positive, quantile)) if len(positive) and quantile < 1 else np.inf


def _run_epochs(
    model: NeuralModel,
    train_inputs: tuple[torch.Tensor, ...],
    targets: _Targets,
    valid_inputs: tuple[torch.Tensor, ...],
    valid_targets: _Targets,
    on_epoch: OnEpoch | None,
) -> None:
    params, net = model.params, model.net
    _init_heads(net, targets)
    optimizer = torch.optim.AdamW(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    rng = np.random.default_rng(params.seed)
    best, best_state, stale = math.inf, None, 0
    for epoch in range(1, params.max_epochs + 1):
        train_loss = _train_epoch(net, optimizer, train_inputs, targets, params, rng)
        metrics = _validate(net, valid_inputs, valid_targets, params)
        model.history.append({"epoch": epoch, "train_loss": train_loss, **metrics})
        if on_epoch is not None:
            on_epoch(epoch, metrics["valid_auc"])
        score = -metrics["valid_auc"] if params.monitor == "valid_auc" else metrics["valid_loss"]
        score = score if math.isfinite(score) else math.inf
        if score < best - 1e-6 or best_state is None:
            best, stale = score, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
            if stale >= params.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
