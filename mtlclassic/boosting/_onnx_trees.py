"""LightGBM boosters as ONNX ``TreeEnsemble`` nodes, in double precision.

One ``TreeEnsemble`` (ai.onnx.ml opset 5) per booster, read from
``Booster.dump_model``: thresholds, inputs, leaf values and the sum are all
doubles, and every decision follows LightGBM's own rules (``tree.h``,
``NumericalDecision``/``CategoricalDecision``):

- ``x <= threshold`` goes left;
- a missing value (NaN) goes the ``default_left`` way when the feature's
  missing type is ``NaN``; it is read as 0 (so goes left iff
  ``0 <= threshold``) when the type is ``None``; with type ``Zero`` a 0 and a
  NaN both go the default way (the graph maps |x| <= 1e-35 to NaN first);
- a categorical split goes left iff the value is one of its categories
  (``BRANCH_MEMBER``); NaN and negative values go right.

onnxmltools' converter is not used: it writes float32 thresholds and reads
float32 inputs, so a value within float32 rounding of a threshold can take
the other branch than in LightGBM (``benchmarks/bench_onnx.py`` counts them).
"""

import numpy as np

from ._lgbm_predict import objective_link

_ZERO = 1e-35  # LightGBM's kZeroThreshold
_LEQ, _MEMBER = 0, 6  # TreeEnsemble node modes


class _Trees:
    """The opset-5 arrays of a set of trees."""

    def __init__(self):
        self.roots, self.feature, self.mode, self.split = [], [], [], []
        self.true_id, self.true_leaf, self.false_id, self.false_leaf = [], [], [], []
        self.tracks, self.leaves, self.members = [], [], []
        self.zero_features, self.nan_features = set(), set()

    def add(self, tree):
        """Add one tree (``tree_structure`` of a dump); return nothing."""
        if "split_feature" not in tree:  # a single leaf: a split to itself
            leaf = self._leaf(tree)
            self.roots.append(len(self.feature))
            self._node(0, _LEQ, 0.0, (leaf, 1), (leaf, 1), 0)
            return
        self.roots.append(self._split(tree))

    def _leaf(self, node):
        if "leaf_const" in node or node.get("leaf_features"):
            raise ValueError("linear trees (linear_tree=True) cannot be exported.")
        self.leaves.append(float(node["leaf_value"]))
        return len(self.leaves) - 1

    def _child(self, node):
        if "split_feature" in node:
            return self._split(node), 0
        return self._leaf(node), 1

    def _node(self, feature, mode, split, true, false, tracks):
        self.feature.append(int(feature))
        self.mode.append(mode)
        self.split.append(float(split))
        (t, tl), (f, fl) = true, false
        self.true_id.append(t)
        self.true_leaf.append(tl)
        self.false_id.append(f)
        self.false_leaf.append(fl)
        self.tracks.append(int(tracks))
        return len(self.feature) - 1

    def _split(self, node):
        position = self._node(int(node["split_feature"]), _LEQ, 0.0, (0, 0),
                              (0, 0), 0)  # fmt: skip
        feature, missing = int(node["split_feature"]), node["missing_type"]
        if node["decision_type"] == "==":
            cats = [float(c) for c in str(node["threshold"]).split("||")]
            self.mode[position] = _MEMBER
            self.split[position] = cats[0]
            self.members += cats + [np.nan]
            tracks = 0  # NaN goes right
        elif node["decision_type"] == "<=":
            threshold = float(node["threshold"])
            self.split[position] = threshold
            if missing == "None":  # NaN is read as 0
                tracks = 0.0 <= threshold
            else:
                tracks = bool(node["default_left"])
                (self.zero_features if missing == "Zero" else self.nan_features).add(
                    feature
                )
        else:  # pragma: no cover - LightGBM writes only these two
            raise ValueError(f"unknown LightGBM split {node['decision_type']!r}")
        self.tracks[position] = int(tracks)
        left, right = self._child(node["left_child"]), self._child(node["right_child"])
        self.true_id[position], self.true_leaf[position] = left
        self.false_id[position], self.false_leaf[position] = right
        return position


def booster_raw(g, booster, num_iteration, X, what):
    """Add the raw score of ``booster`` on the (N, d) double matrix ``X``.

    ``num_iteration`` as in ``Booster.predict`` (0: every tree); ``what``
    names the booster in messages (``"task 'rating'"``). A random forest
    (``boosting="rf"``) averages its trees, as LightGBM does. Returns the
    name of an (N, 1) double tensor.

    Raises
    ------
    ValueError
        Naming ``what``: a booster with several trees per iteration or
        linear trees.
    """
    dump = booster.dump_model(num_iteration=int(num_iteration))
    if dump.get("num_tree_per_iteration", 1) != 1:
        raise ValueError(f"{what}: a booster with several trees per iteration "
                         "(multiclass) cannot be exported to ONNX.")  # fmt: skip
    trees = _Trees()
    try:
        for tree in dump["tree_info"]:
            trees.add(tree["tree_structure"])
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if trees.zero_features & trees.nan_features:  # pragma: no cover - per feature
        raise ValueError(f"{what}: a feature with both missing types Zero and NaN.")
    if not trees.roots:  # no tree: a raw score of 0
        return g.op("Mul", [g.op("Slice", [X, g.const([0], "s", np.int64),
                                            g.const([1], "e", np.int64),
                                            g.const([1], "axis", np.int64)]),
                            g.const(0.0)], "raw")  # fmt: skip
    if trees.zero_features:
        X = _zero_as_missing(g, X, sorted(trees.zero_features), booster.num_feature())
    attrs = dict(
        aggregate_function=1, post_transform=0, n_targets=1,
        tree_roots=trees.roots, nodes_featureids=trees.feature,
        nodes_modes=g.tensor_attr("modes", trees.mode, np.uint8),
        nodes_splits=g.tensor_attr("splits", trees.split, np.float64),
        nodes_truenodeids=trees.true_id, nodes_trueleafs=trees.true_leaf,
        nodes_falsenodeids=trees.false_id, nodes_falseleafs=trees.false_leaf,
        nodes_missing_value_tracks_true=trees.tracks,
        leaf_targetids=[0] * len(trees.leaves),
        leaf_weights=g.tensor_attr("leaves", trees.leaves, np.float64),
    )  # fmt: skip
    if trees.members:
        attrs["membership_values"] = g.tensor_attr("members", trees.members, np.float64)
    raw = g.op("TreeEnsemble", [X], "raw", domain="ai.onnx.ml", **attrs)
    if dump.get("average_output"):  # a random forest: the mean of its trees
        raw = g.op("Mul", [raw, g.const(1.0 / len(trees.roots))], "rf_mean")
    return raw


def booster_output(g, booster, raw, what):
    """Add what ``Booster.predict`` returns from the raw score: the objective's link.

    Identity (regression objectives, ranking), ``sign(x) x^2`` under
    ``reg_sqrt``, the logistic ``1 / (1 + exp(-sigmoid x))`` (``binary``,
    ``cross_entropy``), ``log(1 + exp(x))`` (``cross_entropy_lambda``) and
    ``exp`` (``poisson``, ``gamma``, ``tweedie``), as LightGBM's objective
    functions' ``ConvertOutput``.

    Raises
    ------
    ValueError
        For another objective (multiclass and the like), naming ``what``.
    """
    kind, sigma, text = objective_link(booster)
    if kind == "identity":
        return raw
    if kind == "sqrt":
        return g.op("Mul", [g.op("Abs", [raw]), raw], "sqrt_output")
    if kind == "sigmoid":
        scaled = raw if sigma == 1.0 else g.op("Mul", [raw, g.const(sigma)])
        return g.op("Sigmoid", [scaled], "probability")
    if kind == "softplus":
        # log(1 + exp(x)) as LightGBM writes it (onnxruntime's Softplus has no
        # double kernel)
        return g.op("Log", [g.op("Add", [g.const(1.0), g.op("Exp", [raw])])],
                    "xentlambda_output")  # fmt: skip
    if kind == "exp":
        return g.op("Exp", [raw], "exp_output")
    raise ValueError(f"{what}: the LightGBM objective {text!r} cannot be exported "
                     "to ONNX.")  # fmt: skip


def _zero_as_missing(g, X, features, n_features):
    """Map |x| <= 1e-35 to NaN in the listed columns (missing type ``Zero``)."""
    mask = np.zeros((1, n_features), dtype=bool)
    mask[0, features] = True
    small = g.op("LessOrEqual", [g.op("Abs", [X]), g.const(_ZERO)])
    where = g.op("And", [small, g.const(mask, "zero_cols", bool)])
    return g.op("Where", [where, g.const(np.nan), X], "zero_missing")
