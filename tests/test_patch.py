"""install() and uninstall(): what they put in threading and queue, and what they put back."""

from __future__ import annotations

import os
import queue
import sys
import threading
import types
import warnings
from typing import Any

import pytest

import syncscope
from syncscope._core.registry import PATCHED_NAMES


MODULES = {"threading": threading, "queue": queue}
CLASSES = [
    threading.Condition,
    threading.Semaphore,
    threading.BoundedSemaphore,
    threading.Event,
    threading.Barrier,
    queue.Queue,
    queue.LifoQueue,
    queue.PriorityQueue,
]


def _class_dicts() -> dict[type, dict[str, object]]:
    return {cls: dict(vars(cls)) for cls in CLASSES}


class TestInstall:
    def test_patches_every_name(self) -> None:
        """After install, every replaced name in threading and queue is syncscope's."""
        syncscope.install(output=os.devnull)
        for module_name, names in PATCHED_NAMES.items():
            for name in names:
                if name in ("Lock", "RLock", "SimpleQueue"):
                    assert getattr(MODULES[module_name], name) is not syncscope.get_original(
                        module_name, name
                    )
        assert (
            threading.Condition.wait
            is not syncscope.get_original("threading", "Condition").wait.__wrapped__
        )

    def test_from_import_after_install_is_instrumented(self, tmp_path: object) -> None:
        """`from threading import Lock` in a module imported after install gets ours."""
        syncscope.install(output=os.devnull)
        module = types.ModuleType("late")
        exec("from threading import Lock\nlock = Lock()", module.__dict__)
        assert syncscope._api.describe_primitive(module.lock) is not None

    def test_uninstall_restores_originals_by_identity(self) -> None:
        """Every module attribute and class __dict__ entry is the very original object again."""
        before_modules = {
            (module_name, name): getattr(MODULES[module_name], name)
            for module_name, names in PATCHED_NAMES.items()
            for name in names
        }
        before_classes = _class_dicts()
        syncscope.install(output=os.devnull)
        queue.Queue()  # forces nothing extra to be left behind
        syncscope.uninstall()
        for (module_name, name), original in before_modules.items():
            assert getattr(MODULES[module_name], name) is original
        after_classes = _class_dicts()
        for cls, entries in before_classes.items():
            assert entries.keys() == after_classes[cls].keys(), cls
            for key, value in entries.items():
                assert after_classes[cls][key] is value, f"{cls.__name__}.{key}"

    def test_user_subclass_hooks_are_removed(self) -> None:
        """A user queue subclass's own _put is put back as it was."""

        class Mine(queue.Queue):
            def _put(self, item: object) -> None:
                super()._put(item)

        original = vars(Mine)["_put"]
        syncscope.install(output=os.devnull)
        Mine().put(1)
        assert vars(Mine)["_put"] is not original
        syncscope.uninstall()
        assert vars(Mine)["_put"] is original

    def test_install_twice_is_harmless(self) -> None:
        """A second install with the same options changes nothing and says nothing."""
        syncscope.install(lines=False)
        lock_factory = threading.Lock
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            syncscope.install(lines=False)
        assert threading.Lock is lock_factory
        syncscope.uninstall()
        syncscope.uninstall()
        assert not syncscope.is_installed()

    def test_install_with_other_options_warns(self) -> None:
        """Installing again with different options applies them and warns."""
        syncscope.install(lines=False)
        with pytest.warns(syncscope.SyncscopeWarning, match="already installed"):
            syncscope.install(lines=False, include_library=True)

    def test_uninstall_leaves_a_foreign_patch_alone(self) -> None:
        """If something else replaced threading.Lock after us, uninstall warns and keeps it."""
        syncscope.install(lines=False)

        def foreign() -> None: ...

        threading.Lock = foreign  # type: ignore[assignment, misc]
        try:
            with pytest.warns(syncscope.SyncscopeWarning, match="threading.Lock"):
                syncscope.uninstall()
            assert threading.Lock is foreign
        finally:
            threading.Lock = syncscope.get_original("threading", "Lock")  # type: ignore[misc]

    def test_bad_options(self) -> None:
        """Unknown formats and kinds are refused before anything is patched."""
        with pytest.raises(ValueError, match="unknown format"):
            syncscope.install(format="xml")
        with pytest.raises(ValueError, match="unknown kind 'mutex'"):
            syncscope.install(kinds=["lock", "mutex"])
        assert not syncscope.is_installed()


def test_early_from_import_is_reported_once(tmp_path: object) -> None:
    """A user module that did `from threading import Lock` before install is named, once."""
    module = types.ModuleType("early_user_module")
    module.__file__ = "/somewhere/early_user_module.py"
    exec("from threading import Lock", module.__dict__)
    sys.modules["early_user_module"] = module
    try:
        with pytest.warns(syncscope.SyncscopeWarning, match="early_user_module.Lock"):
            syncscope.install(lines=False)
        syncscope.uninstall()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            syncscope.install(lines=False)
    finally:
        del sys.modules["early_user_module"]


class TestName:
    def test_name_sets_the_reported_name(self, capture: object) -> None:
        """syncscope.name() gives a primitive the name its events carry."""
        syncscope.install(lines=False)
        lock = syncscope.name(threading.Lock(), "db_lock")
        assert "db_lock" == syncscope._api.describe_primitive(lock).name  # type: ignore[union-attr]

    def test_name_watches_a_library_primitive(self) -> None:
        """Naming an unwatched Condition-based primitive starts watching it."""
        before = threading.Event()
        syncscope.install(lines=False)
        syncscope.name(before, "ready")
        assert "ready" == syncscope._api.describe_primitive(before).name  # type: ignore[union-attr]

    def test_name_refuses_a_raw_lock(self) -> None:
        """A raw lock cannot be wrapped after the fact: a clear TypeError."""
        raw = syncscope.get_original("threading", "Lock")()
        syncscope.install(lines=False)
        with pytest.raises(TypeError, match="cannot watch"):
            syncscope.name(raw, "x")


def test_fallback_names_and_creation_site(capture: object) -> None:
    """Without a readable assignment a primitive is named by kind and number."""
    from .conftest import Capture

    assert isinstance(capture, Capture)
    capture.install()
    locks = [threading.Lock() for _ in range(2)]
    for lock in locks:
        with lock:
            pass
    names = [e["name"] for e in capture.events()][::2]
    assert ["lock#1", "lock#2"] == names


def test_a_failing_output_does_not_stop_uninstall() -> None:
    """A sink that fails to close does not keep the others from closing or the originals back."""
    from syncscope._core.state import config_lock, set_sinks, state

    closed: list[str] = []

    class Failing:
        def handle(self, event: object) -> None: ...

        def close(self) -> None:
            raise OSError("disk full")

    class Fine:
        def handle(self, event: object) -> None: ...

        def close(self) -> None:
            closed.append("fine")

    syncscope.install(lines=False)
    with config_lock:
        set_sinks((*state.sinks, Failing(), Fine()))
    syncscope.uninstall()
    assert ["fine"] == closed
    assert not syncscope.is_installed()


def test_the_same_code_in_two_files_is_placed_in_each(tmp_path: Any) -> None:
    """
    Two files with the same class, word for word: each lock is placed in its own file. Code
    in two files compares equal; kept by it, where a creation is was the first file's for
    both, and the two locks one class for the lock-order check.
    """
    source = (
        "import threading\n\n"
        "class Store:\n"
        "    def __init__(self):\n"
        "        self.lock = threading.Lock()\n"
    )
    for name in ("store_a", "store_b"):
        (tmp_path / f"{name}.py").write_text(source)
    sys.path.insert(0, str(tmp_path))
    syncscope.install(lines=False)
    try:
        import store_a  # type: ignore[import-not-found]
        import store_b  # type: ignore[import-not-found]

        assert store_a.Store.__init__.__code__ == store_b.Store.__init__.__code__
        first, second = store_a.Store(), store_b.Store()
        places = [
            syncscope._api.describe_primitive(store.lock).created_at  # type: ignore[union-attr]
            for store in (first, second)
        ]
    finally:
        syncscope.uninstall()
        sys.path.remove(str(tmp_path))
        sys.modules.pop("store_a", None)
        sys.modules.pop("store_b", None)
    assert [
        os.path.join(str(tmp_path), f"{name}.py:5") for name in ("store_a", "store_b")
    ] == places
