"""A small cache of the last things made, for what a step shows.

A recorded run never changes (its arrays are not written in place), so what is worked
out from it — a step's view, a panel's lines — can be kept by what it was made from and
looked up when the learner comes back, or when a step drawn ahead of its key is shown.
Keys that name arrays by ``id`` are safe only while the entry keeps those arrays alive
(an id is reused only after its object is gone): such entries hold them.
"""

from __future__ import annotations

from collections import OrderedDict


class Recent:
    """The last ``size`` things made, by key (a small LRU cache)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def get(self, key):
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key, item) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)
