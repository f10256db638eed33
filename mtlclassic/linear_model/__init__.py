"""Task-relationship linear models: trace norm, L2,1 and clustered multi-task learning.

Each model minimises a sum of per-task losses over the labelled rows of each
task (squared loss for regression tasks, logistic loss for binary tasks, in
the same model) plus a penalty on the weight matrix that says how the tasks
relate. Numerical code is split into datafits, penalties and a FISTA solver.
"""

from ._cv import (
    ClusteredMultiTaskCV,
    L21MultiTaskCV,
    MeanRegularizedMultiTaskCV,
    TraceNormMultiTaskCV,
)
from ._estimators import (
    ClusteredMultiTask,
    L21MultiTask,
    MeanRegularizedMultiTask,
    TraceNormMultiTask,
    trace_norm_path,
)

__all__ = [
    "ClusteredMultiTask",
    "ClusteredMultiTaskCV",
    "L21MultiTask",
    "L21MultiTaskCV",
    "MeanRegularizedMultiTask",
    "MeanRegularizedMultiTaskCV",
    "TraceNormMultiTask",
    "TraceNormMultiTaskCV",
    "trace_norm_path",
]
