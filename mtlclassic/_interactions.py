"""Checks of the float32 user x item matrices (implicit's type) the generators build."""

import numpy as np


def check_weight_sums(matrix, weight_col):
    """Refuse a user x item matrix whose summed weights overflowed float32.

    The generators and ALS hold each (user, item) pair's summed event weights
    in float32, as implicit does: weights near 1e38 (or sums beyond about
    3.4e38) become infinite there, and every score after them NaN.

    Raises
    ------
    ValueError
        Naming ``weight_col``.
    """
    data = matrix.data
    if data.size and not np.isfinite(data).all():
        peak = np.finfo(np.float32).max
        raise ValueError(
            f"weight_col={weight_col!r}: a (user, item) pair's summed weights are "
            f"beyond float32's range ({peak:.1e}), the type of the user x item "
            "matrix (as implicit's); divide the weights by a constant."
        )
