"""The bounded queue between the caller and the background sender.

Not thread-safe on its own: MonitoringClient guards it with its lock.
"""

from collections import deque

# Kinds of update. A STATUS replaces the worker's whole extraction status on
# the server, so only the newest pending one matters.
STATUS = "status"
OTHER = "other"

# Room for the pending status and one other update, so a push never has to
# drop the update being pushed.
MIN_SIZE = 2


class Item(object):
    """One queued request."""

    __slots__ = ("seq", "kind", "path", "body", "attempts", "dead")

    def __init__(self, seq, kind, path, body):
        self.seq = seq
        self.kind = kind
        self.path = path
        self.body = body  # bytes, already encoded
        self.attempts = 0
        self.dead = False  # superseded while queued

    def __repr__(self):  # pragma: no cover - debugging aid
        return "Item(%d, %s, %s)" % (self.seq, self.kind, self.path)


class Outbox(object):
    """A FIFO of at most ``size`` live items that never blocks the pusher.

    When it is full the oldest item goes and is counted in ``dropped``,
    except the pending extraction status: at most one status is pending, a
    newer one supersedes it (counted in ``superseded``, not ``dropped``) and
    takes its place at the back, and it is never the one dropped. So the
    latest extraction status always survives.

    Superseded items stay in the deque marked dead and are skipped, so that
    every push is O(1) amortised.
    """

    def __init__(self, size):
        self.size = max(int(size), MIN_SIZE)
        self.items = deque()
        self.live = 0
        self.status = None  # the pending status item, if any
        self.dropped = 0
        self.superseded = 0

    def __len__(self):
        return self.live

    def push(self, item):
        if item.kind == STATUS and self.status is not None:
            self._kill(self.status)
            self.superseded += 1
        while self.live >= self.size:
            self._drop_oldest()
        self.items.append(item)
        self.live += 1
        if item.kind == STATUS:
            self.status = item

    def take(self):
        """Remove and return the oldest live item, or None."""
        self._trim()
        if not self.items:
            return None
        item = self.items.popleft()
        self.live -= 1
        if item is self.status:
            self.status = None
        return item

    def requeue(self, item):
        """Put back at the front an item whose delivery must be retried.

        It is the oldest item, so it is the first to go if there is no
        room; a status loses to a newer pending one.
        """
        if item.kind == STATUS:
            if self.status is not None:
                self.superseded += 1
                return
            self.status = item
        self.items.appendleft(item)
        self.live += 1
        while self.live > self.size:
            self._drop_oldest()

    def oldest_seq(self):
        """The seq of the oldest live item, or None when empty."""
        self._trim()
        return self.items[0].seq if self.items else None

    def clear(self):
        """Remove everything; returns how many live items were removed."""
        n = self.live
        self.items.clear()
        self.live = 0
        self.status = None
        return n

    def _trim(self):
        while self.items and self.items[0].dead:
            self.items.popleft()

    def _kill(self, item):
        item.dead = True
        self.live -= 1
        if item is self.status:
            self.status = None

    def _drop_oldest(self):
        self._trim()
        first = self.items[0]
        if first is not self.status:
            self.items.popleft()
            self.live -= 1
            self.dropped += 1
            return
        # The oldest is the pending status: keep it, drop the next live one.
        self.items.popleft()
        self._trim()
        self.items.popleft()
        self.live -= 1
        self.dropped += 1
        self.items.appendleft(first)
