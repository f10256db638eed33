"""parametrize_with_checks over every public estimator of mtlclassic."""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import mtlclassic
from mtlclassic import candidates
from tests._instances import (
    EXPECTED_FAILED_CHECKS,
    INSTANCE_PARAMS,
    NOT_ARRAY_ESTIMATORS,
)


def public_estimators():
    """Every estimator class of ``mtlclassic.__all__`` and its families'.

    Classes in ``NOT_ARRAY_ESTIMATORS`` are left out, each with its reason.
    """
    found = []
    for module in (mtlclassic, candidates):
        for name in module.__all__:
            obj = getattr(module, name)
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and not inspect.isabstract(obj)
                and name not in NOT_ARRAY_ESTIMATORS
                and obj.__init__ is not BaseEstimator.__init__
                and obj not in found
            ):
                found.append(obj)
    return found


def test_the_estimators_left_out_are_named_with_a_reason():
    assert set(NOT_ARRAY_ESTIMATORS) <= set(mtlclassic.__all__) | set(
        candidates.__all__
    )
    assert all(isinstance(r, str) and r for r in NOT_ARRAY_ESTIMATORS.values())


def _instances():
    return [cls(**INSTANCE_PARAMS.get(cls.__name__, {})) for cls in public_estimators()]


def _expected_failed(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


def test_instance_params_name_public_estimators():
    names = {cls.__name__ for cls in public_estimators()}
    assert set(INSTANCE_PARAMS) <= names
    assert set(EXPECTED_FAILED_CHECKS) <= names
    for reasons in EXPECTED_FAILED_CHECKS.values():
        assert all(isinstance(r, str) and r for r in reasons.values())


if _instances():

    @parametrize_with_checks(_instances(), expected_failed_checks=_expected_failed)
    def test_sklearn_compatible_estimator(estimator, check):
        check(estimator)
else:  # pragma: no cover - before the first estimator lands

    @pytest.mark.skip(reason="no public estimator yet")
    def test_sklearn_compatible_estimator():
        pass
