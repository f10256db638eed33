r"""Relational blocks of an FM design: side columns of the user or the item.

In recommender data most side columns describe an *entity* — the user's age,
the item's genres — so their design rows repeat on every event of that
entity. Rendle (2013), "Scaling factorization machines to relational data"
(VLDB), samples such parameters from per-entity sums instead of per-row ones.
Here a *block* is a one-hot *key* field (e.g. the user id) with every field
that is constant within each key category (the same design column and value
on every row of a user); rows without a key entry form one more entity.

For a field ``F`` of a block and one factor ``f``, with the combined gradient
``g`` and curvature ``c`` of a row (see :class:`.gibbs.FMGibbsSampler`), its
factor sum ``q`` and its factor-``f`` interaction term ``phi = (q^2 - sum
x^2 v^2) / 2``, a feature's coordinate enters a row as ``h = x (q - x v)``,
so its Gaussian conditional needs, per entity ``e`` (sums over its rows),
``G = sum g``, ``GQ = sum g q``, ``C = sum c``, ``CQ = sum c q`` and ``CQQ =
sum c q^2``:

.. math::

    \mathrm{num}_j = \sum_{e \ni j} x_e (GQ_e - x_e v_j G_e), \qquad
    \mathrm{den}_j = \sum_{e \ni j} x_e^2 (CQQ_e - 2 x_e v_j CQ_e
                     + x_e^2 v_j^2 C_e).

A draw ``delta`` moves every row of ``e`` by ``dq = x_e delta`` and ``dphi =
dq q - x_e^2 v_j delta`` (linear in ``q``), so the five sums update in closed
form, and the rows are touched once per block and factor: the cost of a
factor's sweep over a block is a few passes over the rows plus the entities'
entries, not a pass per field. The linear weights work the same way with the
per-entity sums of the weighted residuals and of the precision matrix. The
draws are those of the per-row sampler in the same order (an oracle test
runs both chains side by side).
"""

from dataclasses import dataclass

import numpy as np

# Rows of one entity in a row (a user's session in time-ordered events) make
# ``np.bincount`` wait on its own last addition to the same bin: 0.8 against
# 0.4 ms per 300k rows of MovieLens-1M's users. Spreading consecutive rows
# over LANES copies of the bins breaks that chain (0.44 ms); the copies are
# added at the end, which changes only the order of the additions.
LANES = 4
MIN_REPEATS = 0.25  # fraction of rows repeating the previous row's entity
MAX_LANE_BINS = 1 << 19  # 4 MiB of float64 bins: beyond, cache misses dominate


@dataclass
class EntityBlock:
    """Fields constant within each category of a key field.

    ``codes`` (n_samples,) the entity of every row (the key's column, or
    ``n_entities - 1`` for rows without a key entry), plus ``n_entities``
    times the row's lane (``row % lanes``; see ``LANES``): read them through
    :attr:`entity`, :meth:`sums` and :meth:`gather`. ``fields`` the design
    fields, the key first; per field, the entities with an entry
    (``ents``: indices, or a slice when they are the first ones), its column
    within the field (``cols``), its value (``vals``) and whether every value
    is 1 (``unit``).
    """

    codes: np.ndarray
    n_entities: int
    fields: list
    ents: list
    cols: list
    vals: list
    unit: list
    lanes: int = 1

    @property
    def entity(self):
        """The entity of every row, shape (n_samples,)."""
        return self.codes if self.lanes == 1 else self.codes % self.n_entities

    def sums(self, w):
        """Per-entity sums of the rows' ``w`` (n_samples,): (n_entities,)."""
        m = self.n_entities
        if self.lanes == 1:
            return np.bincount(self.codes, w, m)
        return np.bincount(self.codes, w, self.lanes * m).reshape(self.lanes, m).sum(0)

    def gather(self, x):
        """Every row's entry of the per-entity ``x`` (n_entities,): (n_samples,)."""
        return np.take(x if self.lanes == 1 else np.tile(x, self.lanes), self.codes)


def _lanes(entity, m):
    """Lanes of the bins (``LANES`` or 1) for rows with these entities."""
    n = entity.size
    if n < 2 or LANES * m > MAX_LANE_BINS:
        return 1
    repeats = np.count_nonzero(entity[1:] == entity[:-1])
    return LANES if repeats > MIN_REPEATS * (n - 1) else 1


def _row_codes(design, F):
    """Column (-1 where absent) and value (0 where absent) of field F per row."""
    col = np.full(design.n_samples, -1, dtype=np.int64)
    val = np.zeros(design.n_samples)
    col[design.rows[F]] = design.cols[F]
    val[design.rows[F]] = design.vals[F]
    return col, val


def entity_blocks(design, *, min_fields=2):
    """Return the :class:`EntityBlock` s of ``design`` (greedy, by field order).

    A key is a field of at least 2 columns and at most half as many columns as
    rows (so its entities repeat); its block is every field not yet in a
    block whose entry is the same on all rows of each entity. Blocks of fewer
    than ``min_fields`` fields are not formed (the per-row updates cost the
    same). O(n_samples) per (key, field) pair.
    """
    n = design.n_samples
    widths = np.diff(design.offsets)
    assigned = np.zeros(design.n_fields, dtype=bool)
    blocks = []
    for K in range(design.n_fields):
        if assigned[K] or widths[K] < 2 or widths[K] > n // 2:
            continue
        m = int(widths[K]) + 1
        rows = design.rows[K]
        if rows.size == n and (n < 2 or bool(np.all(rows[1:] > rows[:-1]))):
            entity = design.cols[K]  # the key on every row, in order: its columns
        else:
            entity = np.full(n, m - 1, dtype=np.int64)  # m - 1: no key on the row
            entity[rows] = design.cols[K]
        first = np.zeros(m, dtype=np.int64)
        first[entity[::-1]] = np.arange(n - 1, -1, -1)  # first row of each entity
        present = np.zeros(m, dtype=bool)
        present[entity] = True
        first_of_row = first[entity]
        members, codes = [], []
        for F in range(design.n_fields):
            if assigned[F]:
                continue
            col, val = _row_codes(design, F)
            if np.array_equal(col, col[first_of_row]) and np.array_equal(
                val, val[first_of_row]
            ):
                members.append(F)
                codes.append((col[first], val[first]))
        if len(members) < min_fields:
            continue
        assigned[members] = True
        ents, cols, vals, unit = [], [], [], []
        for col, val in codes:
            e = np.flatnonzero(present & (col >= 0))
            # the first entities, all with an entry: a slice (views, no gathers)
            ents.append(slice(0, e.size) if e.size and e[-1] == e.size - 1 else e)
            cols.append(col[e])
            vals.append(val[e])
            unit.append(bool(np.all(val[e] == 1.0)))
        lanes = _lanes(entity, m)
        if lanes > 1:
            entity = entity + m * (np.arange(n) % lanes)
        blocks.append(EntityBlock(entity, m, members, ents, cols, vals, unit, lanes))
    return blocks


def linear_sums(cols, vals, unit, width, weighted, precision):
    """Numerator and curvature of a field's linear weights: ``(sum pr x, sum P x^2)``.

    ``cols`` (entries' columns within the field), ``vals`` (their values,
    all 1 when ``unit``), ``weighted`` and ``precision`` (the entries' ``pr``
    and ``P``, per row or per entity); ``width`` columns.
    """
    if unit:
        return np.bincount(cols, weighted, width), np.bincount(cols, precision, width)
    return (
        np.bincount(cols, weighted * vals, width),
        np.bincount(cols, precision * vals * vals, width),
    )


def sample_linear_block(state, block):
    """Draw the linear weights of every field of ``block``, every task.

    The order of the draws is the per-row sampler's (field by field, task by
    task), on per-entity sums; the rows' caches are updated once at the end.
    """
    m = block.n_entities
    n_tasks = state.coef.shape[0]
    design = state.design
    PR = np.stack([block.sums(state.pr[t]) for t in range(n_tasks)])
    if state.correlated:
        PP = np.empty((n_tasks, n_tasks, m))  # PP[a, t]: sum of P[i, a, t]
        for a in range(n_tasks):
            for t in range(n_tasks):
                PP[a, t] = block.sums(state.precision(a, t))
        PD = np.stack([PP[t, t] for t in range(n_tasks)])
    else:
        PD = np.stack([block.sums(state.pdiag[t]) for t in range(n_tasks)])
    total = np.zeros((n_tasks, m))  # change of every task's linear part
    for F, ents, cols, vals, unit in zip(
        block.fields, block.ents, block.cols, block.vals, block.unit
    ):
        width = design.offsets[F + 1] - design.offsets[F]
        for t in range(n_tasks):
            num, den = linear_sums(cols, vals, unit, width, PR[t, ents], PD[t, ents])
            delta = state._draw_coef(F, t, num, den)
            change = delta[cols] if unit else delta[cols] * vals
            total[t, ents] += change
            if state.correlated:
                PR[:, ents] += PP[:, t][:, ents] * change
            else:
                PR[t, ents] += PD[t, ents] * change
    for t in range(n_tasks):
        if not total[t].any():
            continue
        change = block.gather(total[t])
        state.linear[t] += change
        state.resid[t] += change
        if state.correlated:
            state.pr += state.precision(slice(None), t) * change
        else:
            state.pr[t] += state.pdiag[t] * change


def block_curvature(block, c_row):
    """Per-entity sum of the rows' curvature ``c`` (fixed in the factor phase)."""
    return block.sums(c_row)


def sample_factor_block(state, block, f, g_row, c_row, C):
    """Draw factor ``f`` of every field of ``block``; update ``q``, ``phi``, ``g``."""
    m = block.n_entities
    design = state.design
    q = state.q[f]
    cq = c_row * q
    CQ = block.sums(cq)
    cq *= q
    CQQ = block.sums(cq)
    G = block.sums(g_row)
    GQ = block.sums(g_row * q)
    moved = np.zeros(m)  # total change of q per entity
    const = np.zeros(m)  # dphi = moved * q_before + const
    for F, ents, cols, vals, unit in zip(
        block.fields, block.ents, block.cols, block.vals, block.unit
    ):
        if cols.size == 0:  # a field without entries (as the per-row sampler)
            continue
        lo, hi = design.offsets[F], design.offsets[F + 1]
        v = state.factors[lo:hi, f]
        xv = v[cols] if unit else v[cols] * vals
        Ge, GQe, Ce, CQe, CQQe = G[ents], GQ[ents], C[ents], CQ[ents], CQQ[ents]
        num_e = GQe - xv * Ge
        den_e = CQQe - 2.0 * xv * CQe + xv * xv * Ce
        if not unit:
            num_e *= vals
            den_e *= vals * vals
        num = np.bincount(cols, num_e, hi - lo)
        den = np.bincount(cols, den_e, hi - lo)
        delta = state._draw_factor(F, f, num, den)
        dq = delta[cols] if unit else delta[cols] * vals  # per entity
        kappa = -dq * xv  # dphi = dq * q + kappa on the entity's rows
        # every new sum from the old ones (``Ge``... may be views of the sums)
        new = (
            Ge + dq * CQe + kappa * Ce,
            GQe + dq * Ge + dq * CQQe + kappa * CQe + dq * dq * CQe + dq * kappa * Ce,
            CQQe + 2.0 * dq * CQe + dq * dq * Ce,
            CQe + dq * Ce,
        )
        G[ents], GQ[ents], CQQ[ents], CQ[ents] = new
        const[ents] += dq * moved[ents] + kappa
        moved[ents] += dq
    dq_row = block.gather(moved)
    dphi = dq_row * q
    dphi += block.gather(const)
    q += dq_row
    state.phi += dphi
    g_row += c_row * dphi


__all__ = [
    "EntityBlock",
    "block_curvature",
    "entity_blocks",
    "linear_sums",
    "sample_factor_block",
    "sample_linear_block",
]
