"""Bradley-Terry by Newton's method on the count cube, with a left/right advantage.

The model for a comparison of ``i`` (left) and ``j`` (right) is, for the default ``ties="half"``,
``P(left wins) = sigmoid(theta_i - theta_j + h)`` where ``h`` is the position bias; a tie or
both_bad counts half a win for each side (the FastChat / LMArena arena-rank outcome map).
``ties="davidson"`` or ``"rao-kupper"`` model ties explicitly (see :mod:`scoring.ties`).

The fit is Newton's method on the aggregated counts: the Hessian block of ``theta`` is a
weighted graph Laplacian, the gauge ``sum(theta) = 0`` is fixed by adding ``11^T/m`` to it, and
a backtracking line search keeps every step uphill; 5-6 iterations are typical. The maximum
likelihood estimate exists only when the directed "scored against" graph is strongly connected
(Zermelo 1929; Ford 1957). When it is not (a model that never loses, a model that never wins, a
split graph) the fit is a MAP estimate with a small ridge ``ridge/2 * |theta|^2`` and the result
names the models cut off from the largest strongly connected component.

References: Bradley & Terry (1952), Biometrika 39; Hunter (2004), Ann. Statist. 32, "MM
algorithms for generalized Bradley-Terry models"; Newman (2023), JMLR 24.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .data import Comparisons
from .errors import ConvergenceError, ScoringError
from .graph import position_bias_separates, scored_graph_components
from .ties import TIE_MODELS

#: Ridge used when the comparison graph is not strongly connected and ``ridge=None``.
AUTO_RIDGE = 1e-2
#: Ridge on the position bias ``h`` (as FastChat's ``C=1e6``): keeps ``h`` finite when every
#: decisive vote went to one side, with no visible effect otherwise.
H_RIDGE = 1e-6
#: Score scale of DESIGN.md §3: ``1000 + SCALE * theta``.
SCALE = 400 / np.log(10)
BASE_SCORE = 1000.0


class ScoringWarning(UserWarning):
    """A fit that succeeded but needs a caveat (ridge prior, unidentifiable position bias)."""


@dataclass(frozen=True, eq=False)
class BTResult:
    """A fitted Bradley-Terry model.

    ``models``/``theta`` cover the models that have votes (``index`` maps them into the input
    ``Comparisons.models``); ``theta`` sums to zero. ``params`` is ``[theta, h?, tau?]`` and
    ``hessian`` the negative Hessian of the (penalised) log-likelihood at ``params``, without
    the gauge term. ``tie_param`` is Davidson's ``nu`` or Rao-Kupper's ``theta`` (``None`` for
    ``half``). ``cut_off`` lists the models outside the largest strongly connected component.
    """

    models: tuple[str, ...]
    index: np.ndarray
    theta: np.ndarray
    h: float
    tie_param: float | None
    ties: str
    position_bias: bool
    ridge: float
    params: np.ndarray
    hessian: np.ndarray
    loglik: float
    iterations: int
    converged: bool
    cut_off: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def scores(self) -> np.ndarray:
        """``1000 + 400/ln(10) * theta``: the Elo-like scale, mean model at 1000."""
        return BASE_SCORE + SCALE * self.theta

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.models, self.scores.tolist()))


def assemble(i, j, m, g, neg, fit_h, n_tau, key=None):
    """Gradient and negative Hessian over ``[theta, h?, tau?]`` from per-row local terms.

    ``key`` is ``i * m + j`` (pass it to save recomputing it in a loop), or the string
    ``"dense"`` when the rows are all ``m * m`` cells in order (``i = k // m``, ``j = k % m``):
    then the sums are matrix reductions instead of ``bincount``.
    """
    p = m + fit_h + n_tau
    grad, info = np.zeros(p), np.zeros((p, p))
    gd, w = g[:, 0], neg[:, 0, 0]
    if isinstance(key, str):
        gm, wm = gd.reshape(m, m), w.reshape(m, m)
        grad[:m] = gm.sum(1) - gm.sum(0)
        wi, wj = wm.sum(1), wm.sum(0)
    else:
        grad[:m] = np.bincount(i, gd, m) - np.bincount(j, gd, m)
        wm = np.bincount(i * m + j if key is None else key, w, m * m).reshape(m, m)
        wi, wj = np.bincount(i, w, m), np.bincount(j, w, m)
    info[:m, :m] = -(wm + wm.T)
    info.flat[:m * (p + 1):p + 1] += wi + wj
    if fit_h:
        grad[m] = gd.sum()
        info[:m, m] = info[m, :m] = wi - wj
        info[m, m] = w.sum()
    if n_tau:
        t = m + fit_h
        c = neg[:, 0, 1]
        grad[t] = g[:, 1].sum()
        info[:m, t] = info[t, :m] = np.bincount(i, c, m) - np.bincount(j, c, m)
        if fit_h:
            info[m, t] = info[t, m] = c.sum()
        info[t, t] = neg[:, 1, 1].sum()
    return grad, info


def densify(i, j, counts, m):
    """The cube as all ``m * m`` ordered cells (zeros where a pair has no votes)."""
    full = np.zeros((m * m, counts.shape[1]))
    np.add.at(full, i * m + j, counts)
    cells = np.arange(m * m)
    return cells // m, cells % m, full


def warm_refit(i, j, counts, m, tie_model, fit, *, ridge=0.0, dense=False):
    """Refit resampled counts from the full fit's parameters (a bootstrap round): a few full
    Newton steps, with a line-searched fit only if they do not converge; scores centred."""
    x, _, _, ok, _ = newton(i, j, counts, m, tie_model, fit.params, ridge=ridge,
                            fit_h=fit.position_bias, max_iter=20, tol=1e-5, line_search=False,
                            dense=dense)
    if not ok:
        x, *_ = newton(i, j, counts, m, tie_model, fit.params, ridge=ridge,
                       fit_h=fit.position_bias, max_iter=100, tol=1e-8)
    x[:m] -= x[:m].mean()
    return x


def newton(i, j, counts, m, tie_model, x0, *, ridge=0.0, fit_h=True, max_iter=100, tol=1e-10,
           line_search=True, dense=False):
    """Maximise the (penalised) log-likelihood from ``x0``; returns ``(x, ll, iters, ok, info)``.

    Arrays are the unique-pair cube: ``counts`` has shape (n, 4). ``x`` is
    ``[theta (m), h (if fit_h), tau (tie_model.n_tau)]``. ``line_search=False`` takes full
    Newton steps without evaluating the likelihood (``ll`` is then NaN): for warm starts close
    to the optimum, as in the bootstrap. ``dense=True`` says the rows are the ``m * m`` cells
    of :func:`densify`.
    """
    n_tau = tie_model.n_tau
    key = "dense" if dense else i * m + j
    stats = tie_model.prepare(counts)
    gauge = np.zeros((len(x0), len(x0)))
    gauge[:m, :m] = 1.0 / m

    def objective(x, with_ll=True):
        d = x[:m][i] - x[:m][j] + (x[m] if fit_h else 0.0)
        tau = x[m + fit_h:]
        if n_tau and tie_model.name == "rao-kupper" and tau[0] <= 0:
            return -np.inf, None
        ll, g, neg = tie_model.row_terms(d, tau, stats, with_ll)
        if ll is None:
            return np.nan, (g, neg)
        penalty = ridge * x[:m] @ x[:m] + (H_RIDGE * x[m] ** 2 if fit_h else 0.0)
        return ll.sum() - 0.5 * penalty, (g, neg)

    x = np.array(x0, dtype=float)
    if not line_search:
        for it in range(1, max_iter + 1):
            _, terms = objective(x, False)
            if terms is None:
                return x, np.nan, it, False, None
            grad, info = assemble(i, j, m, *terms, fit_h, n_tau, key)
            _add_prior(grad, info, x, m, ridge, fit_h)
            step = _solve(info + gauge, grad)
            if step is None:
                return x, np.nan, it, False, None
            x = x + step
            if np.max(np.abs(step)) < tol:
                return x, np.nan, it, bool(np.all(np.isfinite(x))), None
        return x, np.nan, max_iter, False, None
    f, terms = objective(x)
    it, ok = 0, False
    for it in range(1, max_iter + 1):
        grad, info = assemble(i, j, m, *terms, fit_h, n_tau, key)
        _add_prior(grad, info, x, m, ridge, fit_h)
        step = _solve(info + gauge, grad)
        if step is None:
            break
        t = 1.0
        for _ in range(40):
            f_new, terms_new = objective(x + t * step)
            if f_new >= f - 1e-12 * abs(f):
                break
            t /= 2
        else:
            break
        x, f, terms = x + t * step, f_new, terms_new
        if np.max(np.abs(t * step)) < tol:
            ok = True
            break
    grad, info = assemble(i, j, m, *terms, fit_h, n_tau, key)
    _add_prior(grad, info, x, m, ridge, fit_h)
    return x, f, it, ok, info


def _solve(a, b):
    """``a^-1 b``, or ``None`` when ``a`` is singular (the fit then reports no convergence)."""
    try:
        step = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return None
    return step if np.all(np.isfinite(step)) else None


def _add_prior(grad, info, x, m, ridge, fit_h):
    """Add the ridge on theta and :data:`H_RIDGE` on h to a gradient and negative Hessian."""
    grad[:m] -= ridge * x[:m]
    info[np.arange(m), np.arange(m)] += ridge
    if fit_h:
        grad[m] -= H_RIDGE * x[m]
        info[m, m] += H_RIDGE


def _position_bias_identifiable(i, j, counts, m, connected=False) -> bool:
    """Whether ``h`` is identifiable: its Schur complement in the design Gram matrix is > 0.

    The theta block is a graph Laplacian ``L`` and ``h``'s column sums to zero, so on a
    ``connected`` graph (null space ``1`` alone) ``L^+ v = (L + 11^T/m)^{-1} v``: one solve
    instead of the pseudo-inverse's eigen-decomposition.
    """
    n = counts.sum(axis=1)
    _, info = assemble(i, j, m, np.zeros((len(i), 1)), n[:, None, None], True, 0)
    v = info[:m, m]
    if connected:
        schur = info[m, m] - v @ np.linalg.solve(info[:m, :m] + 1.0 / m, v)
    else:
        schur = info[m, m] - v @ np.linalg.pinv(info[:m, :m], hermitian=True) @ v
    return schur > 1e-9 * max(info[m, m], 1.0)


def fit_bradley_terry(data: Comparisons, *, ties: str = "half", position_bias: bool = True,
                      ridge: float | None = None, max_iter: int = 100,
                      tol: float = 1e-10) -> BTResult:
    """Fit Bradley-Terry (or Davidson / Rao-Kupper) strengths to a count cube.

    Parameters
    ----------
    data : Comparisons
        The votes of one task (voter rows are summed for the fit).
    ties : {"half", "davidson", "rao-kupper"}
        How ties and both_bad enter the likelihood (see :mod:`scoring.ties`).
    position_bias : bool
        Fit the left/right advantage ``h`` (fixed at 0 with a warning if not identifiable).
    ridge : float or None
        ``None``: MLE when the graph is strongly connected, else MAP with :data:`AUTO_RIDGE`.
        A number forces that ridge; ``0`` forces the MLE and raises if it does not exist.

    Returns
    -------
    BTResult

    Raises
    ------
    EmptyDataError
        No votes, or fewer than two models with votes.
    ScoringError
        Unknown ``ties``; ``ridge=0`` on a graph that is not strongly connected.
    """
    if ties not in TIE_MODELS:
        raise ScoringError(f"unknown ties {ties!r}; expected one of {', '.join(TIE_MODELS)}")
    if ridge is not None and not ridge >= 0:
        raise ScoringError("ridge must be >= 0")
    tie_model = TIE_MODELS[ties]
    data.require_votes()
    pairs = data.pairs()
    keep = pairs.counts.sum(axis=1) > 0
    active = np.flatnonzero(data.votes_per_model() > 0)
    remap = np.full(data.n_models, -1)
    remap[active] = np.arange(len(active))
    m = len(active)
    i, j, counts = remap[pairs.left[keep]], remap[pairs.right[keep]], pairs.counts[keep]
    names = tuple(data.models[k] for k in active)
    notes = []
    if m < data.n_models:
        notes.append("models with no votes left out: "
                     + ", ".join(data.models[k] for k in np.flatnonzero(remap < 0)))

    n_comp, labels = scored_graph_components(i, j, counts, m)
    cut_off: tuple[str, ...] = ()
    if n_comp > 1:
        main = np.bincount(labels).argmax()
        cut_off = tuple(names[k] for k in np.flatnonzero(labels != main))
        if ridge == 0:
            raise ScoringError("the maximum-likelihood estimate does not exist: the comparison "
                               "graph is not strongly connected (cut off: "
                               + ", ".join(cut_off) + "); use a ridge > 0")
        ridge = AUTO_RIDGE if ridge is None else ridge
        per_model = data.model_counts()[active]         # wins, losses, ties, both_bad
        drawn = per_model[:, 2] + per_model[:, 3]
        never_lose = [names[k] for k in np.flatnonzero(per_model[:, 1] + drawn == 0)]
        never_win = [names[k] for k in np.flatnonzero(per_model[:, 0] + drawn == 0)]
        notes.append(f"comparison graph not strongly connected: MAP fit with ridge {ridge:g}; "
                     "cut off from the main component: " + ", ".join(cut_off))
        if never_lose:
            notes.append("never lost (score finite only through the ridge): "
                         + ", ".join(never_lose))
        if never_win:
            notes.append("never won (score finite only through the ridge): "
                         + ", ".join(never_win))
    ridge = float(ridge or 0.0)

    fit_h = bool(position_bias)
    if fit_h and not _position_bias_identifiable(i, j, counts, m, connected=n_comp == 1):
        fit_h = False
        notes.append("position bias not identifiable from these pairs: h fixed at 0")
    elif fit_h and position_bias_separates(i, j, counts, m):
        fit_h = False
        notes.append("position bias not estimable: these votes are separated once a left/right "
                     "advantage is allowed (every comparison agrees with one side), so its "
                     "estimate does not exist: h fixed at 0")
    tau0 = tie_model.init_tau(counts)
    if tie_model.n_tau and (counts[:, 2] + counts[:, 3]).sum() == 0:
        raise ScoringError(f"ties={ties!r} needs at least one tie or both_bad vote")
    x0 = np.concatenate([np.zeros(m + fit_h), tau0])
    x, ll, iters, ok, info = newton(i, j, counts, m, tie_model, x0, ridge=ridge, fit_h=fit_h,
                                    max_iter=max_iter, tol=tol)
    if not ok:
        raise ConvergenceError(f"Bradley-Terry ({ties}) did not converge in {iters} iterations")
    for note in notes:
        warnings.warn(note, ScoringWarning, stacklevel=2)
    theta = x[:m] - x[:m].mean()
    x[:m] = theta
    tau = x[m + fit_h:]
    return BTResult(models=names, index=active, theta=theta, h=float(x[m]) if fit_h else 0.0,
                    tie_param=float(np.exp(tau[0])) if len(tau) else None, ties=ties,
                    position_bias=fit_h, ridge=ridge, params=x, hessian=info, loglik=float(ll),
                    iterations=iters, converged=ok, cut_off=cut_off, warnings=tuple(notes))
