"""Candidate generators: the first stage of a two-stage recommender.

Every generator follows one protocol (:class:`BaseCandidateGenerator`):
``fit(events)``, ``recommend(user_ids, n, exclude_seen=True)`` -> a frame of
``user_id, item_id, score, rank``, ``score_pairs``, ``similar_items`` and
``known_ids``; :class:`~mtlclassic.ALSEmbedder` follows it too.
:class:`CandidateUnion` merges several into one candidate frame with each
source's score and rank; :func:`sample_negatives` draws non-events for a
selection task.
"""

from ._base import BaseCandidateGenerator
from ._ease import EASE
from ._knn import ItemKNN
from ._popularity import Popularity
from ._sampling import sample_negatives
from ._union import CandidateUnion

__all__ = [
    "BaseCandidateGenerator",
    "CandidateUnion",
    "EASE",
    "ItemKNN",
    "Popularity",
    "sample_negatives",
]
