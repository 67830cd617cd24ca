"""The comparison graph: does the Bradley-Terry maximum-likelihood estimate exist?

Without a position bias it exists exactly when the directed graph "i scored against j" (a win,
a tie or a both_bad) is strongly connected (Zermelo 1929; Ford 1957, Amer. Math. Monthly 64,
28-33). With the left/right advantage ``h`` fitted, that is not enough: the votes may still be
separated by a direction that moves ``h`` (complete or quasi-complete separation, Albert &
Anderson 1984, Biometrika 71), and then the fit runs off to ``|h|`` of 10-30 with scores to
match. :func:`position_bias_separates` checks for such a direction.
"""
from __future__ import annotations

import numpy as np


def scored_graph_components(i, j, counts, m):
    """Strongly connected components of "i scored against j" (a win, tie or both_bad).

    Returns ``(n_components, labels)`` like ``scipy.sparse.csgraph.connected_components``;
    Tarjan's algorithm, iterative, over the ``m`` models (SIAM J. Comput. 1, 146-160, 1972).
    """
    fwd = counts[:, 0] + counts[:, 2] + counts[:, 3] > 0
    back = counts[:, 1] + counts[:, 2] + counts[:, 3] > 0
    src = np.concatenate([i[fwd], j[back]])
    dst = np.concatenate([j[fwd], i[back]])
    if _strongly_connected(src, dst, m):
        return 1, np.zeros(m, dtype=int)
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    start = np.searchsorted(src, np.arange(m + 1)).tolist()
    dst = dst.tolist()
    index, low, labels = [-1] * m, [0] * m, [-1] * m
    on_stack, stack, counter, n_comp = [False] * m, [], 0, 0
    for root in range(m):
        if index[root] >= 0:
            continue
        work = [(root, start[root])]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, e = work[-1]
            if e < start[v + 1]:
                work[-1] = (v, e + 1)
                w = dst[e]
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, start[w]))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    labels[w] = n_comp
                    if w == v:
                        break
                n_comp += 1
    return n_comp, np.array(labels)


def _strongly_connected(src, dst, m) -> bool:
    """Whether every model reaches model 0 and model 0 reaches every model (the usual case,
    checked with boolean matrix products before running Tarjan's algorithm)."""
    adj = np.zeros((m, m), dtype=bool)
    adj[src, dst] = True
    for graph in (adj, adj.T):
        seen = np.zeros(m, dtype=bool)
        seen[0] = True
        frontier = seen.copy()
        while frontier.any():
            frontier = graph[frontier].any(axis=0) & ~seen
            seen |= frontier
        if not seen.all():
            return False
    return True


def position_bias_separates(i, j, counts, m) -> bool:
    """Whether the votes admit a direction ``(theta, h = +-1)`` that no vote disagrees with:
    every cell's margin ``theta_i - theta_j + h`` moves toward each of its decisive outcomes
    and stays put for a tie or both_bad (or a cell with wins both ways). Then the likelihood
    rises without bound along it and the estimate of ``h`` does not exist.

    With ``h`` fixed at +-1 the conditions are difference constraints on ``theta``, feasible
    exactly when their constraint graph has no negative cycle (Bellman-Ford; Cormen et al.,
    *Introduction to Algorithms*, ch. 24.4). ``counts`` columns are left wins, right wins,
    ties, both_bad, as in :class:`scoring.data.Comparisons`.
    """
    left = counts[:, 0] + counts[:, 2] + counts[:, 3] > 0       # margin may not fall
    right = counts[:, 1] + counts[:, 2] + counts[:, 3] > 0      # margin may not rise
    for h in (1, -1):
        # theta_i - theta_j + h >= 0  <=>  theta_j - theta_i <= h: edge i -> j of weight h;
        # theta_i - theta_j + h <= 0  <=>  theta_i - theta_j <= -h: edge j -> i of weight -h.
        src = np.concatenate([i[left], j[right]])
        dst = np.concatenate([j[left], i[right]])
        weight = np.concatenate([np.full(int(left.sum()), h), np.full(int(right.sum()), -h)])
        if not _negative_cycle(src, dst, weight, m):
            return True
    return False


def _negative_cycle(src, dst, weight, m) -> bool:
    """Bellman-Ford from a virtual source joined to every node at distance 0, after a look for
    a negative cycle of two edges (a pair's two orders: the usual case, found at once). The
    weights are +-1, so a two-edge cycle is negative only when both its edges weigh -1."""
    neg = weight < 0
    a, b = src[neg].astype(np.int64), dst[neg].astype(np.int64)
    if np.isin(a * m + b, b * m + a).any():
        return True
    dist = np.zeros(m)
    for _ in range(m):
        relaxed = dist.copy()
        np.minimum.at(relaxed, dst, dist[src] + weight)
        if np.array_equal(relaxed, dist):
            return False
        dist = relaxed
    return True
