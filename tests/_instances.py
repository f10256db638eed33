"""Small, fast parameters per public estimator, and the checks each is expected to fail.

Add an entry here when you add a public estimator: ``INSTANCE_PARAMS`` holds the
constructor keywords that make ``check_estimator`` fast (few iterations,
``n_jobs=1``, a seed); ``EXPECTED_FAILED_CHECKS`` maps check names to the reason
the estimator cannot pass them.
"""

INSTANCE_PARAMS: dict[str, dict] = {}

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}
