"""The item and user tables of the built-in data, as a Recommender needs them."""

USER_COLS = ["user_id", "user_f0", "user_f1", "user_segment"]
ITEM_COLS = ["item_id", "item_f0", "item_f1", "item_category"]


def catalogues(X):
    """Return ``(items, users)``: one row per item / user of the events ``X``."""
    items = X.drop_duplicates("item_id")[ITEM_COLS]
    users = X.drop_duplicates("user_id")[USER_COLS]
    return items, users
