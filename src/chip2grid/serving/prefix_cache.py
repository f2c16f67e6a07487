"""Automatic prefix caching: prompt KV blocks named by hashes, shared, evicted least recently used.

The semantics follow vLLM's automatic prefix caching: a prompt is cut into blocks of a fixed
number of tokens, each named by a hash of its content and of everything before it (the
Mooncake traces give these as ``hash_ids``, one per 512-token block). A new request reuses the
longest run of leading blocks already in the cache and prefills only the rest. A cached block
is shared by every running request that uses it (reference counted); when the last one leaves,
the block stays cached but becomes free, and free cached blocks are evicted least recently
used first when the KV cache needs room. A request's blocks are released last block first, so
the tail of a prefix is evicted before its head.

The cache here keeps names and reference counts only; the engine counts the KV blocks.

References
----------
vLLM documentation, "Automatic Prefix Caching" (design/prefix_caching), v0.6-v0.10.
Qin et al., "Mooncake: A KVCache-centric Disaggregated Architecture for LLM Serving",
FAST 2025 (``hash_ids`` in the released traces).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


class PrefixCache:
    """Reference counts of cached prompt blocks and the free ones in least-recently-used order."""

    __slots__ = ("_free", "_ref", "num_evicted", "num_in_use")

    def __init__(self) -> None:
        self._ref: dict[int, int] = {}
        self._free: OrderedDict[int, None] = OrderedDict()
        self.num_in_use = 0
        """Cached blocks used by at least one request."""
        self.num_evicted = 0
        """Blocks evicted so far."""

    @property
    def num_free(self) -> int:
        """Cached blocks no request uses (evictable)."""
        return len(self._free)

    def __contains__(self, block_hash: int) -> bool:
        return block_hash in self._ref

    def __len__(self) -> int:
        return len(self._ref)

    def match(self, hashes: Sequence[int], limit: int) -> int:
        """How many leading blocks of ``hashes`` (at most ``limit``) are cached."""
        ref = self._ref
        n = 0
        for h in hashes[:limit]:
            if h not in ref:
                break
            n += 1
        return n

    def num_unused(self, hashes: Sequence[int]) -> int:
        """How many of these cached blocks no request uses (they are counted as free)."""
        ref = self._ref
        return sum(1 for h in hashes if ref[h] == 0)

    def acquire(self, hashes: Sequence[int]) -> int:
        """One more user of each block (cached or new); returns how many became in use."""
        ref, free = self._ref, self._free
        newly = 0
        for h in hashes:
            count = ref.get(h, 0)
            if count == 0:
                newly += 1
                if h in free:
                    del free[h]
            ref[h] = count + 1
        self.num_in_use += newly
        return newly

    def release(self, hashes: Sequence[int]) -> int:
        """One user fewer of each block, last block first; returns how many became free."""
        ref, free = self._ref, self._free
        freed = 0
        for h in reversed(hashes):
            count = ref[h] - 1
            ref[h] = count
            if count == 0:
                free[h] = None
                freed += 1
        self.num_in_use -= freed
        return freed

    def evict(self, num_blocks: int) -> int:
        """Drop up to ``num_blocks`` free blocks, least recently used first; returns how many."""
        ref, free = self._ref, self._free
        n = min(num_blocks, len(free))
        for _ in range(n):
            h, _ = free.popitem(last=False)
            del ref[h]
        self.num_evicted += n
        return n
