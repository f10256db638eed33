"""Small, fast parameters per public estimator, and the checks each is expected to fail.

Add an entry here when you add a public estimator: ``INSTANCE_PARAMS`` holds the
constructor keywords that make ``check_estimator`` fast (few iterations,
``n_jobs=1``, a seed); ``EXPECTED_FAILED_CHECKS`` maps check names to the reason
the estimator cannot pass them.
"""

INSTANCE_PARAMS: dict[str, dict] = {
    "TraceNormMultiTask": dict(alpha=0.01, n_jobs=1),
    "L21MultiTask": dict(alpha=0.01, n_jobs=1),
    "MeanRegularizedMultiTask": dict(alpha=0.01, n_jobs=1),
    "TraceNormMultiTaskCV": dict(n_alphas=3, cv=2, n_jobs=1),
    "L21MultiTaskCV": dict(n_alphas=3, cv=2, n_jobs=1),
    "ClusteredMultiTaskCV": dict(n_alphas=3, cv=2, beta=0.01, n_clusters=1, n_jobs=1),
    "MeanRegularizedMultiTaskCV": dict(n_alphas=3, cv=2, n_jobs=1),
    "ClusteredMultiTask": dict(alpha=0.01, beta=0.01, n_clusters=1, n_jobs=1),
    "ALSEmbedder": dict(
        user_col=0, item_col=1, factors=4, iterations=3, cv=3, n_jobs=1, random_state=0
    ),
    "FMRegressor": dict(n_components=2, n_iter=20, random_state=0),
    "FMClassifier": dict(n_components=2, n_iter=20, random_state=0),
    "MultiTaskFM": dict(n_components=2, n_iter=20, random_state=0),
    "FMEmbedder": dict(
        n_components=2, n_iter=10, user_col=None, item_col=None, cv=3, random_state=0
    ),
    "MultiTaskLGBM": dict(n_estimators=30, learning_rate=0.2, n_jobs=1, random_state=0),
    "EASE": dict(regularization=10.0, user_col=0, item_col=1),
    "ItemKNN": dict(n_neighbors=5, user_col=0, item_col=1),
    "Popularity": dict(user_col=0, item_col=1),
    # the checks' X has two columns: the user column doubles as the time
    "SessionEmbedder": dict(
        user_col=0, item_col=1, time_col=0, n_jobs=1, random_state=0
    ),
}

# Public estimators that parametrize_with_checks cannot build or feed, with why.
NOT_ARRAY_ESTIMATORS: dict[str, str] = {
    "Recommender": (
        "needs a multi-task model and an item catalogue (DataFrames) to be built, "
        "and event DataFrames to fit; clone, get_params and GridSearchCV are "
        "tested in tests/test_recommend_fit.py"
    ),
    "BaseCandidateGenerator": "the protocol's base class, not an estimator to fit",
    "MultiTaskPipeline": (
        "a scikit-learn Pipeline (needs its steps); its fit is checked against "
        "Pipeline.fit in tests/test_als_ahead.py"
    ),
    "CandidateUnion": (
        "needs its generators; checked with EASE and Popularity in "
        "tests/test_candidates.py (test_union_passes_the_estimator_checks)"
    ),
}

_CROSS_FITTED = (
    "fit_transform is cross-fitted by design (out-of-fold embeddings, as "
    "TargetEncoder), so it differs from fit(X).transform(X)"
)

_GIBBS_WEIGHTS = (
    "the Gibbs sampler reads sample weights as relative (rescaled to mean 1 per "
    "task, so survey weights in the thousands do not multiply the data): "
    "repeating rows adds data, doubling a weight does not, by design; a test "
    "checks the scale invariance instead"
)


EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "ClusteredMultiTaskCV": {
        "check_methods_sample_order_invariance": (
            "as ClusteredMultiTask: the check sets n_clusters=2 on a one-task problem"
        ),
    },
    "FMClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _GIBBS_WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": _GIBBS_WEIGHTS,
    },
    "FMRegressor": {
        "check_sample_weight_equivalence_on_dense_data": _GIBBS_WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": _GIBBS_WEIGHTS,
    },
    "MultiTaskFM": {
        "check_sample_weight_equivalence_on_dense_data": _GIBBS_WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": _GIBBS_WEIGHTS,
    },
    "ClusteredMultiTask": {
        "check_methods_sample_order_invariance": (
            "the check sets n_clusters=2 on a one-task problem; the clustered-MTL "
            "relaxation needs n_clusters <= n_tasks, so fit raises ValueError"
        ),
    },
    "FMEmbedder": {
        "check_sample_weight_equivalence_on_dense_data": _GIBBS_WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": _GIBBS_WEIGHTS,
        "check_transformer_general": _CROSS_FITTED,
        "check_transformer_data_not_an_array": _CROSS_FITTED,
    },
    "ALSEmbedder": {
        "check_transformer_general": _CROSS_FITTED,
        "check_transformer_data_not_an_array": _CROSS_FITTED,
    },
}
