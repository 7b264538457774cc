"""Seeds, generators and the process-wide default generator (docs/stream-spec.md)."""

from __future__ import annotations

import numbers
import os
import secrets
import threading
from typing import Any

MAX_SEED = 2**64 - 1
_STATE_KEYS = ("key", "draws", "spawned")


def check_seed(seed: object, name: str = "seed", *, what: str | None = None) -> int:
    """`seed` as an int in [0, 2**64 - 1]; `what` lists what the caller accepts in messages."""
    if type(seed) is int and 0 <= seed <= MAX_SEED:
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        accepted = what or "an int in [0, 2**64 - 1], None or a heinit_rs.Generator"
        raise TypeError(f"{name} must be {accepted}, got {type(seed).__name__}")
    value = int(seed)
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be in [0, 2**64 - 1], got {value}")
    return value


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


class StreamSource:
    """Where a call draws its (key, stream) from: a `Generator`, or a framework's own generator
    (heinit_rs.torch wraps a torch.Generator). Subclasses define `next_stream` and may undo a
    draw in `_give_back`."""

    __slots__ = ()

    def next_stream(self) -> tuple[int, int]:
        """(key, stream) for the next initializer call."""
        raise NotImplementedError

    def _give_back(self, stream: int) -> None:
        """Undo the draw of a call that failed, where that is possible."""


class FixedStream(StreamSource):
    """Stream `stream` of `key`, on every call: a draw made once and carried elsewhere (to the
    workers that generate a Dask array's chunks)."""

    __slots__ = ("key", "stream")

    def __init__(self, key: int, stream: int) -> None:
        self.key, self.stream = key, stream

    def next_stream(self) -> tuple[int, int]:
        return self.key, self.stream

    def __reduce__(self) -> tuple[type, tuple[int, int]]:
        return FixedStream, (self.key, self.stream)


class Generator(StreamSource):
    """A 64-bit key and a count of draws: draw k of ``Generator(s)`` is stream k under key s.

    Each initializer call that takes this generator makes one draw, so successive calls give
    different values; the first draw equals passing ``seed=s`` directly. `spawn` returns
    children whose keys are derived from this key (Philox on a reserved stream), independent
    of this generator's own draws. A Generator is safe to share between threads: each draw
    takes the next stream under a lock.

    It is a value: copy.copy, copy.deepcopy and pickle give an independent generator at the
    same position, and `state` (key, draws and spawned children) saves and restores it, e.g.
    in a training checkpoint.

    Parameters
    ----------
    seed : int or None, optional
        The key, an int in [0, 2**64); None takes 64 bits from the OS (`secrets.randbits`).

    Examples
    --------
    >>> import heinit_rs
    >>> g = heinit_rs.Generator(42)
    >>> first, second = heinit_rs.he_normal((3, 3), seed=g), heinit_rs.he_normal((3, 3), seed=g)
    >>> bool((first == heinit_rs.he_normal((3, 3), seed=42)).all()), g.draws
    (True, 2)
    >>> saved = g.state
    >>> third = heinit_rs.he_normal((3, 3), seed=g)
    >>> g.state = saved
    >>> bool((heinit_rs.he_normal((3, 3), seed=g) == third).all())
    True
    """

    __slots__ = ("_key", "_draws", "_spawned", "_lock", "_from_os")

    def __init__(self, seed: int | None = None) -> None:
        self._from_os = seed is None
        self._key = secrets.randbits(64) if seed is None else check_seed(
            seed, what="an int in [0, 2**64 - 1] or None")
        self._draws = 0
        self._spawned = 0
        self._lock = threading.Lock()

    @property
    def key(self) -> int:
        """The 64-bit Philox key."""
        return self._key

    @property
    def draws(self) -> int:
        """How many streams this generator has handed out."""
        return self._draws

    @property
    def state(self) -> dict[str, int]:
        """{"key", "draws", "spawned"}: everything the next values depend on; assignable."""
        with self._lock:
            return {"key": self._key, "draws": self._draws, "spawned": self._spawned}

    @state.setter
    def state(self, state: dict[str, int]) -> None:
        if not isinstance(state, dict) or set(state) != set(_STATE_KEYS):
            raise ValueError(f"state must be a dict with the keys {_STATE_KEYS}, got {state!r}")
        key = check_seed(state["key"], "state['key']", what="an int in [0, 2**64 - 1]")
        draws = _count(state["draws"], "state['draws']")
        spawned = _count(state["spawned"], "state['spawned']")
        with self._lock:
            self._key, self._draws, self._spawned = key, draws, spawned
            self._from_os = False

    def next_stream(self) -> tuple[int, int]:
        """(key, stream) for the next initializer call."""
        with self._lock:
            stream = self._draws
            self._draws = stream + 1
        return self._key, stream

    def _give_back(self, stream: int) -> None:
        """Undo draw `stream` of a call that failed, unless a later draw was made since."""
        with self._lock:
            if self._draws == stream + 1:
                self._draws = stream

    def spawn(self, n: int) -> list[Generator]:
        """n new generators with keys derived from this one's; later calls give new children.

        Parameters
        ----------
        n : int
            How many, >= 0.

        Returns
        -------
        list of Generator
            Child j of all spawn calls so far has the key made of words 0 and 1 of Philox
            block j of stream 2**64 - 1 under this key (docs/stream-spec.md).

        Examples
        --------
        >>> import heinit_rs
        >>> workers = heinit_rs.Generator(7).spawn(4)
        >>> len({g.key for g in workers})
        4
        """
        from heinit_rs import _core  # here, so this module loads without the extension

        n = _count(n, "n")
        with self._lock:
            first = self._spawned
            self._spawned += n
        return [Generator(_core.derive_key(self._key, first + j)) for j in range(n)]

    def __getstate__(self) -> dict[str, int]:
        return self.state

    def __setstate__(self, state: dict[str, int]) -> None:
        self._lock = threading.Lock()
        self.state = state

    def __copy__(self) -> Generator:
        twin = Generator.__new__(Generator)
        twin.__setstate__(self.state)
        return twin

    def __deepcopy__(self, memo: dict[int, Any]) -> Generator:
        return self.__copy__()

    def __repr__(self) -> str:
        return f"Generator(key={self._key:#018x}, draws={self._draws})"


_default_lock = threading.Lock()
_default: Generator | None = None


def default_generator() -> Generator:
    """The process-wide generator that ``seed=None`` draws from.

    Seeded from OS entropy unless `manual_seed` was called. A forked child process (os.fork,
    multiprocessing's fork start method) that inherits a default generator seeded from the OS
    gets a fresh OS-seeded one, as Python's `random` does, so workers do not repeat each other;
    one set by `manual_seed` is inherited as it is.

    Returns
    -------
    Generator
        The default generator; save ``default_generator().state`` in a checkpoint to resume.

    Examples
    --------
    >>> import heinit_rs
    >>> _ = heinit_rs.manual_seed(3)
    >>> heinit_rs.default_generator().state
    {'key': 3, 'draws': 0, 'spawned': 0}
    """
    global _default
    current = _default  # set once, so only the first call needs the lock
    if current is not None:
        return current
    with _default_lock:
        if _default is None:
            _default = Generator()
        return _default


def manual_seed(seed: int) -> Generator:
    """Seed the process-wide default generator, as torch.manual_seed does, and return it.

    Parameters
    ----------
    seed : int
        The key, an int in [0, 2**64).

    Returns
    -------
    Generator
        The new default generator, ``Generator(seed)``.

    Examples
    --------
    >>> import heinit_rs
    >>> _ = heinit_rs.manual_seed(0)
    >>> a = heinit_rs.he_normal((4, 4))
    >>> _ = heinit_rs.manual_seed(0)
    >>> bool((heinit_rs.he_normal((4, 4)) == a).all())
    True
    """
    global _default
    generator = Generator(check_seed(seed, what="an int in [0, 2**64 - 1]"))
    with _default_lock:
        _default = generator
    return generator


def _reseed_after_fork() -> None:
    global _default, _default_lock
    _default_lock = threading.Lock()  # another thread may have held it at fork()
    if _default is not None:
        _default._lock = threading.Lock()
        if _default._from_os:
            _default = Generator()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


def resolve_seed(seed: int | StreamSource | None) -> tuple[int, int, StreamSource | None]:
    """(key, stream, source) for one call: an int is stream 0 of that key; a generator (or
    the default one, for None) makes a draw and is returned so a failed fill can give it back."""
    generator: StreamSource
    if seed is None:
        generator = default_generator()
    elif isinstance(seed, StreamSource):
        generator = seed
    else:
        return check_seed(seed), 0, None
    return (*generator.next_stream(), generator)
