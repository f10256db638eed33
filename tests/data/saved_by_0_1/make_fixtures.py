"""Write the model files of this folder and the predictions they must give.

Run once with the code of main at cbb8d5e (before the factorization machine
moved into ``mtlclassic/embedding/_fm/`` and the serving layer into
``recommend/_compiled.py``, ``_batch/`` and ``cli/``)::

    PYTHONPATH=<checkout of cbb8d5e> python make_fixtures.py tests/data/saved_by_0_1

``tests/test_io.py::test_files_saved_by_0_1_load_and_predict_identically``
loads them with today's code. Do not re-run it with newer code: the files are
the record of what an earlier version wrote.
"""

import sys
from pathlib import Path

import numpy as np

from mtlclassic import (
    FMClassifier,
    FMEmbedder,
    FMRegressor,
    MultiTaskFM,
    MultiTaskLGBM,
    compile,
    make_multitask_recommender,
)
from mtlclassic.datasets import make_multitask_recsys
from mtlclassic.io import save


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    X, Y = make_multitask_recsys(n_users=30, n_items=20, n_events=200, random_state=0)
    X = X.drop(columns="timestamp")
    models = {
        "fm_embedder_mcmc": (
            FMEmbedder(
                n_components=2, n_iter=6, cv=None, passthrough=False, random_state=0
            ),
            Y,
        ),
        "fm_embedder_als_crossfit": (
            FMEmbedder(
                n_components=2,
                n_iter=6,
                cv=2,
                solver="als",
                passthrough=False,
                random_state=0,
            ),
            Y,
        ),
        "fm_regressor_als": (
            FMRegressor(2, solver="als", n_iter=8, random_state=0),
            Y["click"].astype(float),
        ),
        "fm_classifier_mcmc": (FMClassifier(2, n_iter=8, random_state=0), Y["click"]),
        "multitask_fm_mcmc": (MultiTaskFM(2, n_iter=8, random_state=0), Y),
    }
    expected = {}
    for name, (est, y) in models.items():
        est.fit(X, y)
        save(est, out / f"{name}.mtlc")
        out_ = est.transform(X) if hasattr(est, "transform") else est.predict(X)
        expected[name] = np.asarray(out_, dtype=float)
        print(name, (out / f"{name}.mtlc").stat().st_size, expected[name].shape)
    np.savez_compressed(out / "fm_expected.npz", **expected)
    X.to_csv(out / "fm_rows.csv", index=False)
    serving(out)


def serving(out):
    """The heads, a compiled pipeline (and its model): the serving layer's files.

    Written by main at cbb8d5e too, before compile moved into ``recommend/``
    and the heads' fit helpers returned values.
    """
    X, Y = make_multitask_recsys(n_users=30, n_items=20, n_events=300, random_state=1)
    heads = MultiTaskLGBM(n_estimators=10, n_jobs=1, random_state=0)
    heads.fit(X.drop(columns="timestamp"), Y)
    pipeline = make_multitask_recommender(
        n_estimators=10, factors=2, fm_n_iter=4, cv=2, random_state=0, n_jobs=1
    ).fit(X, Y)
    expected = {
        "multitask_lgbm": heads.predict(X.drop(columns="timestamp")),
        "pipeline": pipeline.predict(X),
        "compiled_pipeline": compile(pipeline).predict(X),
    }
    save(heads, out / "multitask_lgbm.mtlc")
    save(pipeline, out / "pipeline.mtlc", input_example=X)
    save(compile(pipeline), out / "compiled_pipeline.mtlc")
    np.savez_compressed(out / "serving_expected.npz", **expected)


if __name__ == "__main__":
    main()
