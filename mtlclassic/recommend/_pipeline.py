"""The default multi-task recommender Pipeline."""

from sklearn.pipeline import Pipeline


def make_multitask_recommender(
    *,
    tasks=None,
    user_col="user_id",
    item_col="item_id",
    factors=32,
    regularization=0.05,
    iterations=15,
    cv=5,
    strategy="separate",
    n_estimators=1000,
    learning_rate=0.05,
    num_leaves=31,
    early_stopping_rounds=50,
    n_jobs=None,
    random_state=None,
    verbose=0,
    **params,
):
    """Build the default pipeline: cross-fitted ALS embeddings → per-task LightGBM.

    ``Pipeline([("alsembedder", ALSEmbedder(...)), ("multitasklgbm",
    MultiTaskLGBM(...))])``: the ALS step adds each row's user and item
    factors and their dot product to the side features (passed through with
    their dtypes: the step outputs pandas), and the boosting step fits one
    early-stopped LightGBM head per task on its labelled rows. Because the
    embedder's ``fit_transform`` is cross-fitted, the heads never train on
    embeddings fitted to their own rows, so the pipeline is leak-free inside
    ``cross_validate`` and ``GridSearchCV``.

    Parameters
    ----------
    tasks : None, list or dict, default=None
        Task kinds, passed to :class:`~mtlclassic.MultiTaskLGBM`.
    user_col, item_col : str, default="user_id", "item_id"
    factors, regularization, iterations, cv : ALS parameters
        See :class:`~mtlclassic.ALSEmbedder`.
    strategy : {"separate", "shared", "finetune"}, default="separate"
    n_estimators, learning_rate, num_leaves, early_stopping_rounds : LightGBM
        See :class:`~mtlclassic.MultiTaskLGBM`; early stopping uses each
        task's own 10% validation rows.
    n_jobs, random_state, verbose :
        Passed to both steps.
    **params : dict
        Any other step parameter, as ``<step>__<parameter>`` (e.g.
        ``multitasklgbm__min_child_samples=50``).

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> from mtlclassic import make_multitask_recsys, make_multitask_recommender
    >>> X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=1500,
    ...                              random_state=0)
    >>> model = make_multitask_recommender(n_estimators=30, factors=8,
    ...                                    random_state=0).fit(X, Y)
    >>> model.predict(X.head(3)).shape
    (3, 3)
    """
    from ..boosting import MultiTaskLGBM
    from ..embedding import ALSEmbedder

    embedder = ALSEmbedder(
        user_col=user_col,
        item_col=item_col,
        factors=factors,
        regularization=regularization,
        iterations=iterations,
        cv=cv,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=verbose,
    ).set_output(transform="pandas")
    heads = MultiTaskLGBM(
        tasks=tasks,
        strategy=strategy,
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        num_leaves=num_leaves,
        early_stopping_rounds=early_stopping_rounds,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=verbose,
    )
    pipeline = Pipeline([("alsembedder", embedder), ("multitasklgbm", heads)])
    if params:
        pipeline.set_params(**params)
    return pipeline
