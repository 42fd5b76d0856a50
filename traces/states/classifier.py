"""Bidirectional-GRU power-state classifier (paper Sec. 3.2, Eq 3).

Maps a sequence of normalised workload features (A_t, dA_t, optionally more columns)
on the 250 ms grid to per-step logits over the ``K`` sorted power states of a
:class:`traces.states.PowerStateMixture`:
``h_t = BiGRU(x_{1:T})_t``, ``p(s_t | x) = softmax(W h_t + b)`` (Eq 3).

Training: cross-entropy on the mixture's hard labels (Eq 2), Adam, mini-batches of
fixed-length windows cut from the training traces, early stopping on a validation set
made of *contiguous blocks* at the end of each training trace (not random steps, which
would leak neighbouring steps into validation). Deterministic on CPU for a given seed.

Inference: :meth:`StateClassifier.predict_proba` runs the whole sequence at once;
:meth:`StateClassifier.predict_proba_many` cuts many sequences into windows of
``window`` steps with ``overlap`` steps of context on each side, batches the windows of
all sequences together and keeps only each window's core. Memory is bounded by the batch
(``batch_windows x (window + 2 overlap)``), not by the number or length of sequences.
On CPU both run the fp32 kernel :func:`_bigru_logits`: the compiled :mod:`traces.states._bigru`
(~0.4 us per sequence-step and core on AVX-512) or, when it is not built, the PyTorch
kernel :func:`_bigru_logits_torch` (~1 us).  Both equal the torch module within float
rounding and are bit-identical whatever the batch or thread count.

One cohesive module over ~600 lines: model, training and inference of one network (the
BiGRU and its two CPU kernels must stay bit-identical, so they live together).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["ClassifierError", "StateClassifier", "BiGRUNet", "iter_windows"]


class ClassifierError(ValueError):
    """Invalid input to the state classifier (features, labels, K mismatch)."""


class BiGRUNet(nn.Module):
    """One-layer bidirectional GRU + linear head to K logits (Eq 3).

    Input (B, T, F) float32, output (B, T, K) logits.
    """

    def __init__(
        self, n_features: int, n_states: int, hidden_size: int = 64, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.gru = nn.GRU(
            input_size=n_features,
            hidden_size=hidden_size,
            num_layers=1,
            batch_first=True,
            bidirectional=True,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, n_states)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h, _ = self.gru(x)
        return self.head(self.drop(h))


#: Time steps whose input projection is computed at once by :func:`_bigru_logits_torch` (and
#: whose hidden states are projected to logits at once): bounds its working memory to
#: ``block x 2 x B x 3H`` floats.
_KERNEL_BLOCK = 64

#: :func:`_bigru_logits_torch` pads batches to a multiple of this many sequences so that a
#: sequence's result is bit-identical whatever batch it is in (a batch of one row takes
#: another CPU matmul path than a larger one).
_KERNEL_ROWS = 8


def _fold_bigru(net: BiGRUNet) -> tuple[torch.Tensor, ...]:
    """Weights of ``net`` rewritten for the inference kernels (float32, both directions).

    PyTorch's GRU with ``tanh(a) = 2 sigmoid(2a) - 1`` and the hidden state carried as
    ``g = (h + 1) / 2``: the n-gate pre-activation is doubled, ``h W = g (2 W) - colsum(W)``
    moves the offsets into the biases, and the update becomes ``g' = s + z (g - s)`` with
    ``s = sigmoid(gi_n + r hn)``.  Folded in float64, then rounded once.

    Returns
    -------
    w_ih : (2, F, 3H)
        Input weights (r | z | n columns, n doubled).
    b_x : (2, 3H)
        Biases outside the reset product: ``b_ir + b'_hr``, ``b_iz + b'_hz``, ``2 b_in``.
    w_hh : (2, H, 3H)
        Recurrent weights acting on ``g``.
    b_hn : (2, H)
        ``b'_hn``, inside the reset product.
    w_out : (2, H, K16)
        The head's two halves acting on ``g`` (K zero-padded to a multiple of 16 columns).
    b_out : (K,)
        Head bias minus the folded offsets.
    """
    gru, head = net.gru, net.head
    hs, k = gru.hidden_size, head.out_features

    def both(name: str) -> torch.Tensor:
        return (
            torch.stack([getattr(gru, name + "_l0"), getattr(gru, name + "_l0_reverse")])
            .detach()
            .double()
        )

    w_ih = both("weight_ih").transpose(1, 2).clone()
    w_hh = both("weight_hh").transpose(1, 2).clone()
    b_ih = both("bias_ih").clone()
    b_hh = both("bias_hh").clone()
    for w in (w_ih[..., 2 * hs :], w_hh[..., 2 * hs :], b_ih[:, 2 * hs :], b_hh[:, 2 * hs :]):
        w.mul_(2.0)  # n-gate pre-activation doubled: tanh(a) = 2 sigmoid(2a) - 1
    b_hh -= w_hh.sum(dim=1)  # h = 2 g - 1: h W = g (2 W) - colsum(W)
    w_hh.mul_(2.0)
    b_x = b_ih.clone()
    b_x[:, : 2 * hs] += b_hh[:, : 2 * hs]
    # head halves on g, zero-padded to 16 output columns: with few columns the CPU matmul
    # rounds a row differently depending on its position in the batch
    w_head = head.weight.detach().double().t().reshape(2, hs, k)
    w_out = torch.zeros(2, hs, -(-k // 16) * 16, dtype=torch.float64)
    w_out[..., :k] = 2.0 * w_head
    b_out = head.bias.detach().double() - w_head.sum(dim=(0, 1))
    return tuple(t.float().contiguous() for t in (w_ih, b_x, w_hh, b_hh[:, 2 * hs :], w_out, b_out))


def _bigru_logits_torch(net: BiGRUNet, x: torch.Tensor, block: int = _KERNEL_BLOCK) -> torch.Tensor:
    """Inference-only fp32 forward of :class:`BiGRUNet` on CPU in PyTorch ops: (B, T, F) ->
    (B, T, K) logits (the fallback of :func:`_bigru_logits` when the C kernel is absent).

    Equal to ``net(x)`` in eval mode within float rounding (~1e-7 on logits), about 3x
    faster than ``torch.nn.GRU`` on a 2-core AVX-512 CPU.  Both directions advance
    together, the backward one reading the sequence from its end.  PyTorch's GRU
    equations are rewritten for few element-wise passes per step: with
    ``tanh(a) = 2 sigmoid(2a) - 1`` and the hidden state carried as ``g = (h + 1) / 2``,
    the update ``h' = n + z (h - n)`` becomes ``g' = s + z (g - s)`` with
    ``s = sigmoid(2 a_n)``, and the factors 2 and the ``-1`` offsets fold into the
    weights and biases.  Per block of ``block`` steps the input projections are computed
    at once; each step is then two batched matmuls with the bias added in the same call
    (``r|z = sigmoid(gi_rz + g W'_rz)``, ``hn = b'_hn + g W'_hn``), ``addcmul``
    (``gi_n + r * hn``), ``sigmoid`` and ``lerp``: six calls.  The hidden states of a
    block go straight through the head's two halves into one time-major (T, B, K) buffer
    (the backward half added where it belongs), so memory is ``O(B T K)`` rather than
    ``O(B T H)``.  Each sequence's result does not depend on the other sequences in the
    batch or on the thread count (bit-identical).
    """
    b_real = x.shape[0]
    if b_real % _KERNEL_ROWS:
        # pad the batch with zero sequences: the CPU matmuls round a row differently when
        # it falls in a batch's ragged tail, and results must not depend on the batch
        pad = x.new_zeros((_KERNEL_ROWS - b_real % _KERNEL_ROWS, *x.shape[1:]))
        x = torch.cat([x, pad])
    b_sz, t_len, n_f = x.shape
    hs = net.gru.hidden_size
    k = net.head.out_features
    w_ih, b_x, w_hh, b_hn, w_out, b_out = _fold_bigru(net)
    k_pad = w_out.shape[-1]
    # one matmul per step gives [r|z pre-activation, hn]: the input projection fills the
    # first 2H columns (r, z: both biases sit outside the r product) and only b_hn the last
    w_ih_g = w_ih.clone()
    w_ih_g[..., 2 * hs :] = 0.0
    b_g = torch.cat([b_x[:, : 2 * hs], b_hn], dim=1)[:, None]
    w_ih_n = w_ih[..., 2 * hs :].contiguous()
    b_in = b_x[:, None, 2 * hs :]
    xt = x.transpose(0, 1)  # (T, B, F) view
    out = torch.zeros(t_len, b_sz, k)  # time-major logits: forward + backward halves
    g = torch.full((2, b_sz, hs), 0.5)  # h = 0
    # block buffers, reused (fresh allocations of this size cost page faults every block)
    gg_buf = torch.empty(2, block * b_sz, 3 * hs)
    gn_buf = torch.empty(2, block * b_sz, hs)
    ob = torch.empty(2, block, b_sz, hs)  # hidden states of the block, both directions
    proj_buf = torch.empty(2, block * b_sz, k_pad)
    for t0 in range(0, t_len, block):
        tb = min(block, t_len - t0)
        t1 = t_len - t0  # the backward direction covers [t1 - tb, t1), read in reverse
        xb = torch.stack([xt[t0 : t0 + tb], xt[t1 - tb : t1].flip(0)]).reshape(2, tb * b_sz, n_f)
        full = tb == block
        gg = torch.baddbmm(b_g, xb, w_ih_g, out=gg_buf) if full else torch.baddbmm(b_g, xb, w_ih_g)
        gn = (
            torch.baddbmm(b_in, xb, w_ih_n, out=gn_buf) if full else torch.baddbmm(b_in, xb, w_ih_n)
        )
        gg = gg.view(2, tb, b_sz, 3 * hs)
        gn = gn.view(2, tb, b_sz, hs)
        # per-step views made once per block (slicing in the step loop costs more than
        # the element-wise work at small batches)
        steps = zip(
            gg.unbind(1), gg[..., : 2 * hs].unbind(1), gg[..., :hs].unbind(1),
            gg[..., hs : 2 * hs].unbind(1), gg[..., 2 * hs :].unbind(1), gn.unbind(1),
            ob[:, :tb].unbind(1), strict=True,
        )  # fmt: skip
        for gh, rz, r, z, hn, s, g_next in steps:
            gh.baddbmm_(g, w_hh)
            rz.sigmoid_()
            s.addcmul_(r, hn).sigmoid_()
            g = torch.lerp(s, g, z, out=g_next)  # g' = s + z (g - s)
        g = g.clone()  # ob is reused by the next block
        obv = ob[:, :tb].reshape(2, tb * b_sz, hs)  # a view: no copy
        proj = torch.bmm(obv, w_out, out=proj_buf) if full else torch.bmm(obv, w_out)
        proj = proj.view(2, tb, b_sz, k_pad)[..., :k]
        out[t0 : t0 + tb] += proj[0]
        out[t1 - tb : t1] += proj[1].flip(0)
    out += b_out
    return out[:, :b_real].transpose(0, 1)


def _load_c_kernel() -> Any:
    """The compiled kernel module :mod:`traces.states._bigru`, or None (not built, or disabled
    with the environment variable ``GRIDLINK_BIGRU_KERNEL=torch``)."""
    import os

    if os.environ.get("GRIDLINK_BIGRU_KERNEL", "").strip().lower() == "torch":
        return None
    try:
        from traces.states import _bigru
    except ImportError:
        logger.info("traces.states._bigru not built: BiGRU inference uses the PyTorch kernel")
        return None
    return _bigru


_C_KERNEL = _load_c_kernel()

#: Which CPU kernel :func:`_bigru_logits` runs: ``"c"`` (the compiled :mod:`traces.states._bigru`,
#: for hidden size 64 and at most 16 states) or ``"torch"`` (:func:`_bigru_logits_torch`).
KERNEL = "c" if _C_KERNEL is not None else "torch"


def _pack_bigru(net: BiGRUNet) -> np.ndarray:
    """:func:`_fold_bigru`'s weights in the layout of :mod:`traces.states._bigru` (float32, 1-D):
    per direction ``w_ih``, ``b_x``, ``w_hh``, ``b_hn``, ``w_out`` (16 columns), then
    ``b_out`` zero-padded to 16.  Needs at most 16 states."""
    w_ih, b_x, w_hh, b_hn, w_out, b_out = _fold_bigru(net)
    if w_out.shape[-1] != 16:
        raise ClassifierError(f"the C kernel takes at most 16 states, got {b_out.numel()}")
    parts = [t[d] for d in range(2) for t in (w_ih, b_x, w_hh, b_hn, w_out)]
    parts.append(torch.nn.functional.pad(b_out, (0, 16 - b_out.numel())))
    return torch.cat([t.reshape(-1) for t in parts]).numpy()


def _bigru_logits(net: BiGRUNet, x: torch.Tensor) -> torch.Tensor:
    """Inference-only fp32 forward of :class:`BiGRUNet` on CPU: (B, T, F) -> (B, T, K) logits.

    Runs the compiled kernel :mod:`traces.states._bigru` when it is built and the network fits
    it (hidden size 64, at most 16 states), else :func:`_bigru_logits_torch`.  Both equal
    ``net(x)`` in eval mode within float rounding (~1e-6 on logits) and give each sequence
    a result that does not depend on the other sequences in the batch or on the thread
    count (bit-identical).  The C kernel is ~2.5x faster per core; it splits the batch over
    ``torch.get_num_threads()`` threads (the GIL is released while it runs).
    """
    gru, head = net.gru, net.head
    if (
        _C_KERNEL is None
        or gru.hidden_size != _C_KERNEL.HIDDEN_SIZE
        or head.out_features > _C_KERNEL.MAX_STATES
    ):
        return _bigru_logits_torch(net, x)
    xn = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
    b_sz, t_len, n_f = xn.shape
    k = head.out_features
    w = _pack_bigru(net)
    out = np.empty((b_sz, t_len, k), dtype=np.float32)
    if out.size == 0:
        return torch.from_numpy(out)
    # contiguous row ranges in whole blocks of the rows the kernel advances together
    rows = _C_KERNEL.ROWS
    n_blocks = -(-b_sz // rows)
    n_par = max(1, min(torch.get_num_threads(), n_blocks))
    cuts = [min(b_sz, rows * round(i * n_blocks / n_par)) for i in range(n_par)] + [b_sz]
    spans = [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
    if len(spans) == 1:
        _C_KERNEL.logits(xn, w, out, t_len, n_f, k, 0, b_sz)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(spans)) as ex:
            futures = [
                ex.submit(_C_KERNEL.logits, xn, w, out, t_len, n_f, k, a, b) for a, b in spans
            ]
            for f in futures:
                f.result()
    return torch.from_numpy(out)


def _softmax_(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, in place (``logits`` is overwritten and returned).

    Five whole-array passes; much faster than ``torch.softmax`` over a short last axis
    (K states) on CPU, and no second (B, T, K) array.
    """
    logits.sub_(logits.amax(dim=-1, keepdim=True)).exp_()
    return logits.div_(logits.sum(dim=-1, keepdim=True))


def _forward(net: BiGRUNet, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode logits: the fast kernel on CPU, the module elsewhere (e.g. CUDA)."""
    if x.device.type == "cpu" and x.dtype == torch.float32:
        return _bigru_logits(net, x)
    return net(x)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (None: leave it)."""
    prev = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(prev)


def _check_features(x: Any, n_features: int | None, *, name: str = "features") -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ClassifierError(f"{name} must be a numeric array (T, F): {exc}") from exc
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ClassifierError(f"{name} must have shape (T, F), got {a.shape}")
    if a.shape[0] == 0:
        raise ClassifierError(f"{name} is empty (T = 0); generate features for a non-empty horizon")
    n_bad = int(np.count_nonzero(~np.isfinite(a)))
    if n_bad:
        raise ClassifierError(
            f"{name} contains {n_bad} NaN/inf values; fix the upstream workload features"
        )
    if n_features is not None and a.shape[1] != n_features:
        raise ClassifierError(
            f"{name} has {a.shape[1]} feature columns but the classifier was fitted on "
            f"{n_features}; use the configuration's feature_set"
        )
    return a


def iter_windows(t_len: int, window: int, overlap: int) -> Iterator[tuple[int, int, int]]:
    """Window plan for a sequence of ``t_len`` steps.

    Yields ``(a, c0, c1)``: the input slice is ``[a, a + L)`` with
    ``L = window + 2 * overlap`` and the kept core is ``[c0, c1)``. Every core has at least
    ``overlap`` steps of context on each side or touches the true sequence boundary.
    Requires ``t_len >= L``.
    """
    length = window + 2 * overlap
    if t_len < length:
        raise ClassifierError(f"sequence of {t_len} steps is shorter than one window ({length})")
    for c0 in range(0, t_len, window):
        c1 = min(c0 + window, t_len)
        a = min(max(c0 - overlap, 0), t_len - length)
        yield a, c0, c1


class StateClassifier(BaseEstimator):
    """BiGRU state classifier (Eq 3) with scikit-learn-style fit/predict.

    Parameters
    ----------
    n_states : int
        Number of states ``K`` (of the fitted mixture).
    hidden_size : int, default 64
        GRU hidden units per direction (paper: 64).
    train_window : int, default 1024
        Length of training windows [steps of 250 ms].
    batch_size : int, default 16
        Windows per mini-batch.
    max_epochs : int, default 60
        Upper bound on epochs.
    patience : int, default 10
        Early stopping: epochs without validation improvement.
    lr : float, default 3e-3
        Adam learning rate.
    val_fraction : float, default 0.2
        Fraction of each training trace held out for early stopping, as ``val_blocks``
        contiguous blocks (never random steps, which would leak neighbouring steps).
    val_blocks : int, default 3
        Number of contiguous validation blocks per trace, evenly spread over it.
    dropout : float, default 0.2
        Dropout on the GRU outputs during training only (the traces are short; the
        small configurations over-fit within a few epochs without it).
    windows_per_epoch : int, default 64
        Random training windows drawn per epoch (trace start offsets are random).
    n_threads : int or None, default 1
        torch intra-op threads while training and in :meth:`predict_proba` (restored
        afterwards); None leaves torch's setting. One thread is fastest for training's
        small batches and avoids oversubscription on shared machines (measured 40x faster
        than 2 threads on a loaded 2-core box); results are bit-identical for a given
        thread count. Batched inference (:meth:`predict_proba_many`) uses torch's own
        setting unless told otherwise: its large batches gain from every core.
    random_state : int, default 0
        Seeds torch and numpy for weights and window sampling.

    Attributes
    ----------
    net_ : BiGRUNet
    feature_mean_, feature_std_ : ndarray (F,)
        Feature normalisation learnt on the training part.
    n_features_ : int
    history_ : dict
        ``train_loss``, ``val_loss`` per epoch, ``best_epoch``, ``fit_time_s``,
        ``val_accuracy``.
    """

    def __init__(
        self,
        n_states: int,
        *,
        hidden_size: int = 64,
        train_window: int = 1024,
        batch_size: int = 16,
        max_epochs: int = 60,
        patience: int = 10,
        lr: float = 3e-3,
        val_fraction: float = 0.2,
        val_blocks: int = 3,
        dropout: float = 0.2,
        windows_per_epoch: int = 64,
        n_threads: int | None = 1,
        random_state: int = 0,
    ) -> None:
        self.n_states = n_states
        self.hidden_size = hidden_size
        self.train_window = train_window
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr = lr
        self.val_fraction = val_fraction
        self.val_blocks = val_blocks
        self.dropout = dropout
        self.windows_per_epoch = windows_per_epoch
        self.n_threads = n_threads
        self.random_state = random_state

    # ------------------------------------------------------------------ helpers
    def _normalise(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.feature_mean_) / self.feature_std_).astype(np.float32)

    def _check_labels(self, y: Any, t_len: int) -> np.ndarray:
        lab = np.asarray(y)
        if lab.shape != (t_len,):
            raise ClassifierError(f"labels have shape {lab.shape}, expected ({t_len},)")
        if lab.size and (lab.min() < 0 or lab.max() >= self.n_states):
            raise ClassifierError(
                f"labels must lie in 0..{self.n_states - 1} (K={self.n_states}), got "
                f"{lab.min()}..{lab.max()}; K mismatch between mixture and classifier"
            )
        return lab.astype(np.int64)

    # ---------------------------------------------------------------- training
    def fit(self, features: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> StateClassifier:
        """Train on one or more traces.

        Parameters
        ----------
        features : sequence of ndarray (T_i, F)
            Raw (unnormalised) workload features per trace, e.g. columns (A_t, dA_t).
        labels : sequence of ndarray of int (T_i,)
            Hard state labels (Eq 2) per trace, in ``0..K-1``.

        Returns
        -------
        self

        Raises
        ------
        ClassifierError
            On empty input, NaN features, differing F, label/feature length mismatch or
            labels outside ``0..K-1``.
        """
        if isinstance(features, np.ndarray):
            features, labels = [features], [labels]
        if len(features) == 0 or len(features) != len(labels):
            raise ClassifierError(
                f"need one label array per feature array, got {len(features)} / {len(labels)}"
            )
        k = int(self.n_states)
        if k < 1:
            raise ClassifierError(f"n_states must be >= 1, got {self.n_states}")
        xs = [_check_features(f, None, name=f"features[{i}]") for i, f in enumerate(features)]
        nf = xs[0].shape[1]
        for i, x in enumerate(xs):
            if x.shape[1] != nf:
                raise ClassifierError(f"features[{i}] has {x.shape[1]} columns, features[0] {nf}")
        ys = [self._check_labels(y, x.shape[0]) for x, y in zip(xs, labels, strict=True)]

        # validation: ``val_blocks`` contiguous blocks per trace, evenly spread (so the
        # idle head, the load body and the tail are all represented); the training
        # pieces are the stretches between them
        tr_x, tr_y, va_x, va_y = [], [], [], []
        nb = max(int(self.val_blocks), 1)
        for x, y in zip(xs, ys, strict=True):
            t_len = x.shape[0]
            bl = int(round(self.val_fraction * t_len / nb))
            if bl < 4 or t_len - nb * bl < 8:
                tr_x.append(x)
                tr_y.append(y)
                continue
            cuts = []
            for j in range(nb):
                a = int(round((j + 0.5) * t_len / nb - bl / 2))
                a = min(max(a, 0), t_len - bl)
                cuts.append((a, a + bl))
            prev = 0
            for a, b in cuts:
                if a - prev >= 8:
                    tr_x.append(x[prev:a])
                    tr_y.append(y[prev:a])
                va_x.append(x[a:b])
                va_y.append(y[a:b])
                prev = b
            if t_len - prev >= 8:
                tr_x.append(x[prev:])
                tr_y.append(y[prev:])
        allx = np.concatenate(tr_x)
        self.feature_mean_ = allx.mean(axis=0)
        sd = allx.std(axis=0)
        self.feature_std_ = np.where(sd > 1e-9, sd, 1.0)
        self.n_features_ = int(nf)

        rng_ctx = torch.random.fork_rng(devices=[])  # leave the caller's torch RNG alone
        rng_ctx.__enter__()
        torch.manual_seed(int(self.random_state))
        rng = np.random.default_rng(int(self.random_state))
        net = BiGRUNet(nf, k, int(self.hidden_size), float(self.dropout))
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr))
        loss_fn = nn.CrossEntropyLoss()

        tr_xn = [torch.from_numpy(self._normalise(x)) for x in tr_x]
        tr_yt = [torch.from_numpy(y) for y in tr_y]
        va_xn = [torch.from_numpy(self._normalise(x))[None] for x in va_x]
        va_yt = [torch.from_numpy(y)[None] for y in va_y]
        lens = np.array([x.shape[0] for x in tr_x], dtype=np.float64)
        win = int(min(self.train_window, lens.max()))

        history: dict[str, Any] = {"train_loss": [], "val_loss": []}
        best_state: dict[str, torch.Tensor] | None = None
        best_val = math.inf
        best_epoch = -1
        bad = 0
        t0 = time.perf_counter()
        prev_det = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        prev_threads = torch.get_num_threads()
        if self.n_threads:
            torch.set_num_threads(int(self.n_threads))
        try:
            for epoch in range(int(self.max_epochs)):
                net.train()
                # sample windows: trace proportional to length, random offset
                n_win = max(int(self.windows_per_epoch), 1)
                tr_ids = rng.choice(len(tr_x), size=n_win, p=lens / lens.sum())
                ep_loss = []
                for b0 in range(0, n_win, int(self.batch_size)):
                    bx, by = [], []
                    ids = tr_ids[b0 : b0 + int(self.batch_size)]
                    w = int(min(win, min(lens[i] for i in ids)))
                    for i in ids:
                        off = int(rng.integers(0, int(lens[i]) - w + 1))
                        bx.append(tr_xn[i][off : off + w])
                        by.append(tr_yt[i][off : off + w])
                    xb = torch.stack(bx)
                    yb = torch.stack(by)
                    opt.zero_grad()
                    logits = net(xb)
                    loss = loss_fn(logits.reshape(-1, k), yb.reshape(-1))
                    loss.backward()
                    nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                    ep_loss.append(float(loss.detach()))
                history["train_loss"].append(float(np.mean(ep_loss)))
                if va_xn:
                    net.eval()
                    with torch.inference_mode():
                        tot, n = 0.0, 0
                        for xv, yv in zip(va_xn, va_yt, strict=True):
                            lv = net(xv)
                            tot += float(
                                nn.functional.cross_entropy(
                                    lv.reshape(-1, k), yv.reshape(-1), reduction="sum"
                                )
                            )
                            n += yv.numel()
                    vl = tot / n
                else:
                    vl = history["train_loss"][-1]
                history["val_loss"].append(vl)
                if vl < best_val - 1e-5:
                    best_val, best_epoch, bad = vl, epoch, 0
                    best_state = {n_: p.detach().clone() for n_, p in net.state_dict().items()}
                else:
                    bad += 1
                    if bad >= int(self.patience):
                        break
        finally:
            torch.use_deterministic_algorithms(prev_det)
            torch.set_num_threads(prev_threads)
            rng_ctx.__exit__(None, None, None)
        assert best_state is not None
        net.load_state_dict(best_state)
        net.eval()
        self.net_ = net
        history["best_epoch"] = best_epoch
        history["best_val_loss"] = best_val
        history["epochs_run"] = len(history["train_loss"])
        history["fit_time_s"] = time.perf_counter() - t0
        history["n_train_steps"] = int(lens.sum())
        history["n_val_steps"] = int(sum(y.size for y in va_y))
        if va_x:
            acc = [
                np.mean(self.predict_proba(x).argmax(1) == y)
                for x, y in zip(va_x, va_y, strict=True)
            ]
            history["val_accuracy"] = float(np.average(acc, weights=[y.size for y in va_y]))
        self.history_ = history
        logger.info(
            "StateClassifier: %d epochs, best %d, val CE %.4f, %.1f s",
            history["epochs_run"],
            best_epoch,
            best_val,
            history["fit_time_s"],
        )
        return self

    # --------------------------------------------------------------- inference
    def predict_proba(self, features: Any) -> np.ndarray:
        """State probabilities with full-sequence bidirectional inference.

        Parameters
        ----------
        features : ndarray (T, F)
            Raw workload features (same columns as in ``fit``).

        Returns
        -------
        ndarray float32 (T, K)
            Softmax probabilities per step.
        """
        check_is_fitted(self, ["net_"])
        x = _check_features(features, self.n_features_)
        with _torch_threads(self.n_threads), torch.inference_mode():
            logits = _forward(self.net_, torch.from_numpy(self._normalise(x))[None])[0]
            return np.ascontiguousarray(_softmax_(logits).numpy())

    def predict(self, features: Any) -> np.ndarray:
        """Most probable state per step, ndarray of int64 (T,)."""
        return self.predict_proba(features).argmax(axis=1).astype(np.int64)

    def predict_proba_many(
        self,
        features: Sequence[Any],
        *,
        window: int | None = 8192,
        overlap: int = 256,
        batch_windows: int = 16,
        n_threads: int | None = None,
        device: str | None = None,
    ) -> list[np.ndarray]:
        """Batched windowed inference for many sequences.

        Each sequence with ``T >= window + 2*overlap`` is cut by :func:`iter_windows`;
        all windows of all sequences are run in batches of ``batch_windows`` and only
        each window's core is kept. Shorter sequences run whole (batched with sequences
        of the same length). For a generator over many sequences with bounded memory
        use :meth:`iter_proba_many`.

        Parameters
        ----------
        features : sequence of ndarray (T_i, F)
        window : int or None, default 8192
            Core length [steps]; None runs every sequence whole (exact bidirectional
            inference, no window edges), batching consecutive sequences of equal length
            ``batch_windows`` at a time (memory ``batch_windows x T x (F + K)`` floats).
        overlap : int, default 256
            Context on each side [steps] (64 s at 250 ms); unused when ``window`` is None.
        batch_windows : int, default 16
            Windows (or, with ``window=None``, whole sequences) per forward pass.
        n_threads : int or None, default None
            torch threads for inference; None leaves torch's setting (all cores by
            default; the facility's dask workers set 1), -1 uses the classifier's
            ``n_threads``. Results are bit-identical whatever the thread count and
            whatever the batch (CPU kernel :func:`_bigru_logits`).
        device : str, optional
            torch device for the forward passes (e.g. ``"cuda"``); default CPU. Windows
            are moved there batch by batch, probabilities come back as numpy arrays.

        Returns
        -------
        list of ndarray float32 (T_i, K)
        """
        return [
            p
            for _, p in self.iter_proba_many(
                features,
                window=window,
                overlap=overlap,
                batch_windows=batch_windows,
                n_threads=n_threads,
                device=device,
            )
        ]

    def iter_proba_many(
        self,
        features: Iterable[Any],
        *,
        window: int | None = 8192,
        overlap: int = 256,
        batch_windows: int = 16,
        n_threads: int | None = None,
        device: str | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Like :meth:`predict_proba_many` but yields ``(i, proba_i)`` in input order as
        soon as sequence ``i`` is complete, so callers can consume and drop it.

        Memory: one batch of windows plus the sequences not yet complete (at most the
        sequences touched by one batch).
        """
        check_is_fitted(self, ["net_"])
        if (window is not None and window < 1) or overlap < 0 or batch_windows < 1:
            raise ClassifierError(
                "window >= 1 (or None), overlap >= 0 and batch_windows >= 1 required"
            )
        if window is None:
            yield from self._iter_proba_whole(
                features, batch=batch_windows, n_threads=n_threads, device=device
            )
            return
        k = int(self.n_states)
        length = window + 2 * overlap
        net, dev, nt = self._inference_setup(n_threads, device)
        # pending windows: (seq i, input start a, core c0, c1)
        pending: list[tuple[int, int, int, int]] = []
        buffers: dict[int, np.ndarray] = {}
        remaining: dict[int, int] = {}
        xs: dict[int, np.ndarray] = {}
        next_out = 0
        done: dict[int, np.ndarray] = {}

        def flush() -> None:
            if not pending:
                return
            xb = torch.from_numpy(np.stack([xs[i][a : a + length] for i, a, _, _ in pending]))
            with _torch_threads(nt), torch.inference_mode():
                prob = _softmax_(_forward(net, xb.to(dev))).cpu().numpy()
            for j, (i, a, c0, c1) in enumerate(pending):
                buffers[i][c0:c1] = prob[j, c0 - a : c1 - a]
                remaining[i] -= 1
                if remaining[i] == 0:
                    done[i] = buffers.pop(i)
                    del xs[i], remaining[i]
            pending.clear()

        for i, f in enumerate(features):
            x = self._normalise(_check_features(f, self.n_features_, name=f"features[{i}]"))
            t_len = x.shape[0]
            if t_len < length:
                with _torch_threads(nt), torch.inference_mode():
                    logits = _forward(net, torch.from_numpy(x)[None].to(dev))[0]
                    done[i] = _softmax_(logits).cpu().numpy()
            else:
                xs[i] = x
                buffers[i] = np.empty((t_len, k), dtype=np.float32)
                plan = list(iter_windows(t_len, window, overlap))
                remaining[i] = len(plan)
                for a, c0, c1 in plan:
                    pending.append((i, a, c0, c1))
                    if len(pending) >= batch_windows:
                        flush()
            while next_out in done:
                yield next_out, done.pop(next_out)
                next_out += 1
        flush()
        while next_out in done:
            yield next_out, done.pop(next_out)
            next_out += 1

    def _inference_setup(
        self, n_threads: int | None, device: str | None
    ) -> tuple[BiGRUNet, torch.device, int | None]:
        """The network on ``device`` (a copy off the CPU), the device and the thread count."""
        net = self.net_
        if device is not None and torch.device(device).type != "cpu":
            import copy

            net = copy.deepcopy(net).to(device)
        dev = torch.device(device) if device is not None else torch.device("cpu")
        return net, dev, self.n_threads if n_threads == -1 else n_threads

    def _iter_proba_whole(
        self,
        features: Iterable[Any],
        *,
        batch: int,
        n_threads: int | None,
        device: str | None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Whole-sequence inference, ``batch`` consecutive equal-length sequences at a time."""
        net, dev, nt = self._inference_setup(n_threads, device)
        group: list[np.ndarray] = []
        first = 0

        def run(start: int, xs: list[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
            xb = torch.empty((len(xs), *xs[0].shape))
            for j in range(len(xs)):  # fill and release one by one: no second copy
                xb[j] = torch.from_numpy(xs[j])
                xs[j] = None  # type: ignore[call-overload]
            xs.clear()
            with _torch_threads(nt), torch.inference_mode():
                prob = _softmax_(_forward(net, xb.to(dev))).cpu()
                del xb
                for j in range(prob.shape[0]):
                    yield start + j, np.ascontiguousarray(prob[j].numpy())

        for i, f in enumerate(features):
            x = self._normalise(_check_features(f, self.n_features_, name=f"features[{i}]"))
            if group and (x.shape[0] != group[0].shape[0] or len(group) >= batch):
                n = len(group)
                yield from run(first, group)
                first += n
            group.append(x)
        if group:
            yield from run(first, group)

    # ------------------------------------------------------------ persistence
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Network weights and feature normalisation as named tensors (for safetensors)."""
        check_is_fitted(self, ["net_"])
        out = {
            f"classifier.{n}": p.detach().clone().contiguous()
            for n, p in self.net_.state_dict().items()
        }
        out["classifier.feature_mean"] = torch.from_numpy(
            np.asarray(self.feature_mean_, dtype=np.float64)
        )
        out["classifier.feature_std"] = torch.from_numpy(
            np.asarray(self.feature_std_, dtype=np.float64)
        )
        return out

    def get_params_dict(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-serialisable dict."""
        return {
            "n_states": int(self.n_states),
            "hidden_size": int(self.hidden_size),
            "train_window": int(self.train_window),
            "batch_size": int(self.batch_size),
            "max_epochs": int(self.max_epochs),
            "patience": int(self.patience),
            "lr": float(self.lr),
            "val_fraction": float(self.val_fraction),
            "val_blocks": int(self.val_blocks),
            "dropout": float(self.dropout),
            "windows_per_epoch": int(self.windows_per_epoch),
            "n_threads": None if self.n_threads is None else int(self.n_threads),
            "random_state": int(self.random_state),
        }

    @classmethod
    def from_state_tensors(
        cls, params: dict[str, Any], tensors: dict[str, torch.Tensor], n_features: int
    ) -> StateClassifier:
        """Rebuild a fitted classifier from :meth:`get_params_dict` and :meth:`state_tensors`.

        Raises
        ------
        ClassifierError
            If a tensor is missing or has the wrong shape (e.g. a K mismatch).
        """
        obj = cls(**params)
        net = BiGRUNet(int(n_features), int(obj.n_states), int(obj.hidden_size))
        sd = {}
        for n, p in net.state_dict().items():
            key = f"classifier.{n}"
            if key not in tensors:
                raise ClassifierError(f"classifier tensor {key!r} missing from the artifact")
            if tuple(tensors[key].shape) != tuple(p.shape):
                raise ClassifierError(
                    f"classifier tensor {key!r} has shape {tuple(tensors[key].shape)}, expected "
                    f"{tuple(p.shape)} (K={obj.n_states}, F={n_features})"
                )
            sd[n] = tensors[key]
        net.load_state_dict(sd)
        net.eval()
        obj.net_ = net
        for key in ("classifier.feature_mean", "classifier.feature_std"):
            if key not in tensors or tuple(tensors[key].shape) != (int(n_features),):
                raise ClassifierError(
                    f"classifier tensor {key!r} missing or not shape ({n_features},)"
                )
        obj.feature_mean_ = tensors["classifier.feature_mean"].numpy().astype(np.float64)
        obj.feature_std_ = tensors["classifier.feature_std"].numpy().astype(np.float64)
        obj.n_features_ = int(n_features)
        obj.history_ = {}
        return obj
