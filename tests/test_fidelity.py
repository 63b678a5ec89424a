"""
Drop-in fidelity on real code: what real projects do with threading, run under syncscope.

Each class is one way a real project broke under syncscope, checked on the real case.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import sys
import textwrap
import threading
import warnings
import zipfile
from pathlib import Path
from typing import ClassVar

import pytest

import syncscope

from .conftest import run_python, run_syncscope


class TestStandInsDoNotBind:
    """The Lock and RLock stand-ins behave as the originals when kept as class attributes."""

    def test_class_attribute_called_through_self(self) -> None:
        """`lock_class = threading.Lock` then `self.lock_class()` works (werkzeug's URL map)."""
        syncscope.install(output=os.devnull)

        class Map:
            lock_class = threading.Lock
            rlock_class = threading.RLock

        lock, rlock = Map().lock_class(), Map().rlock_class()
        with lock, rlock:
            assert lock.locked()
        assert not lock.locked()

    def test_stand_ins_look_like_the_originals(self) -> None:
        """
        __doc__ and repr are the originals'; __module__, __qualname__ and __name__ name where
        the stand-in is found (``threading.Lock``), which pickle, cloudpickle and dill need.
        """
        originals = (threading.Lock, threading.RLock, queue.SimpleQueue)
        syncscope.install(output=os.devnull)
        stand_ins = (threading.Lock, threading.RLock, queue.SimpleQueue)
        paths = ("threading.Lock", "threading.RLock", "queue.SimpleQueue")
        for original, stand_in, path in zip(originals, stand_ins, paths, strict=True):
            assert original is not stand_in
            assert original.__doc__ == stand_in.__doc__
            assert repr(original) == repr(stand_in)
            assert path == f"{stand_in.__module__}.{stand_in.__qualname__}"
            assert path == f"{stand_in.__module__}.{stand_in.__name__}"

    def test_isinstance_against_the_stand_ins(self) -> None:
        """isinstance() against the stand-ins answers for raw and instrumented locks."""
        raw_lock, raw_rlock = threading.Lock(), threading.RLock()
        syncscope.install(output=os.devnull)
        lock, rlock = threading.Lock(), threading.RLock()
        assert isinstance(lock, threading.Lock)
        assert isinstance(raw_lock, threading.Lock)
        assert isinstance(rlock, threading.RLock)
        assert isinstance(raw_rlock, threading.RLock)
        assert not isinstance(rlock, threading.Lock)
        assert not isinstance(object(), threading.Lock)

    def test_no_subclasses(self) -> None:
        """Like the lock type and the factories, the stand-ins cannot be subclassed."""
        originals = (threading.Lock, threading.RLock)
        syncscope.install(output=os.devnull)
        for base in (*originals, threading.Lock, threading.RLock):
            with pytest.raises(TypeError):

                class Sub(base):  # type: ignore[valid-type,misc]
                    pass

    def test_warnings_at_the_callers_line(self) -> None:
        """RLock's warning for arguments (3.13 on) is the original's, at the caller's line."""
        original = threading.RLock
        syncscope.install(output=os.devnull)
        given = {}
        for name, factory in (("original", original), ("stand-in", threading.RLock)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rlock = factory(1)  # both warn here, or neither does
            given[name] = [(w.category, str(w.message), w.filename, w.lineno) for w in caught]
            with rlock, rlock:
                assert rlock._is_owned()
        assert given["original"] == given["stand-in"]
        if sys.version_info >= (3, 13):
            assert [DeprecationWarning] == [category for category, *_ in given["stand-in"]]
            assert {__file__} == {filename for _, _, filename, _ in given["stand-in"]}
        assert isinstance(rlock, threading.RLock)
        assert "_RLockProxy" == type(rlock).__name__  # watched: made by the stand-in

    def test_cpython_threading_introspection(self) -> None:
        """CPython's checks of threading.__all__, type(Lock())() and subclassing pass."""
        result = run_syncscope(
            "-q",
            "-m",
            "unittest",
            "test.test_threading",
            # Those of each Python version that look at the stand-ins themselves.
            *("-k", "test__all__", "-k", "test_disallow_instantiation"),
            *("-k", "test_lock_no_subclass", "-k", "test_lock_no_args"),
            merge_stderr=True,
        )
        assert 0 == result.returncode, result.stdout
        assert "OK" in result.stdout


#: A program that sends work to another process with cloudpickle (as joblib, loky and dask
#: do): a function of its ``__main__``, pickled by value with the globals it uses, which are
#: the stand-ins under syncscope; a ``defaultdict(threading.Lock)``; the classes themselves.
CLOUDPICKLE_PROGRAM = """\
import pickle, subprocess, sys, threading
from collections import defaultdict
from queue import SimpleQueue
from threading import Lock

import cloudpickle

def work():
    lock, q = Lock(), SimpleQueue()
    with lock:
        q.put(61)
    return q.get(timeout=5)

locks = defaultdict(threading.Lock)
data = cloudpickle.dumps((work, locks, threading.Lock, SimpleQueue))
loader = (
    "import pickle, queue, sys, threading\\n"
    "work, locks, lock, simple = pickle.loads(sys.stdin.buffer.read())\\n"
    "print('there', work(), type(locks['a']).__name__, lock is threading.Lock,"
    " simple is queue.SimpleQueue)"
)
there = subprocess.run(
    [sys.executable, "-c", loader], input=data, capture_output=True, timeout=60
)
print(there.returncode, there.stdout.decode().strip(), there.stderr.decode()[-300:])
work, locks, lock, simple = pickle.loads(data)
print("here", work(), lock is threading.Lock, simple is SimpleQueue)
"""


class TestCloudpickle:
    """Work pickled with cloudpickle under syncscope loads and runs in another process."""

    def test_main_functions_and_factories_pickle_by_name(self, tmp_path: Path) -> None:
        """
        A ``__main__`` function that makes a ``Lock`` and a ``SimpleQueue`` (from their
        ``from`` imports), a ``defaultdict(threading.Lock)`` and the two classes pickle, load
        in a plain python process and run there, and load back here as the stand-ins: the
        stand-ins are found by their ``__module__`` and ``__qualname__``. With the originals'
        names cloudpickle pickled them by value and failed.
        """
        pytest.importorskip("cloudpickle")
        program = tmp_path / "send_work.py"
        program.write_text(CLOUDPICKLE_PROGRAM, encoding="utf-8")
        plain = run_python(str(program))
        expected = "0 there 61 lock True True \nhere 61 True True\n"
        assert (0, expected) == (plain.returncode, plain.stdout), plain.stderr
        result = run_syncscope("-q", str(program))
        assert (0, plain.stdout) == (result.returncode, result.stdout), result.stderr


@pytest.mark.skipif(importlib.util.find_spec("flask") is None, reason="flask is not installed")
class TestFlask:
    def test_flask_app_under_syncscope(self) -> None:
        """flask.Flask() builds its URL map (a Lock kept as a class attribute) and serves."""
        code = (
            "import flask\n"
            "app = flask.Flask('x')\n"
            "app.add_url_rule('/', 'hi', lambda: 'hi')\n"
            "print(app.test_client().get('/').data.decode())\n"
        )
        expected = run_python("-c", code)
        for args in ((), ("-q",), ("--no-lines",), ("--all",)):
            actual = run_syncscope(*args, "-c", code)
            assert 0 == actual.returncode, actual.stderr
            assert expected.stdout == actual.stdout == "hi\n"


def _names(lines: str) -> list[str]:
    """The primitive names in JSON lines, in order of first appearance."""
    names: list[str] = []
    for line in lines.splitlines():
        if line.startswith("{"):
            name = json.loads(line)["name"]
            if name not in names:
                names.append(name)
    return names


class TestNamesFromTheSource:
    """Primitives are named after what the creating statement assigns them to."""

    SOURCE = textwrap.dedent(
        """\
        import threading
        a = threading.Lock(); b = threading.Lock()
        ready, done = threading.Event(), threading.Event()
        class C:
            def __init__(self): self.guard = threading.Lock()
        c = C()
        x: threading.RLock = threading.RLock()
        cond = threading.Condition(threading.Lock())
        for each in (a, b, c.guard, x, cond):
            with each: pass
        ready.set(); done.set()
        """
    )
    EXPECTED: ClassVar[list[str]] = ["a", "b", "guard", "x", "cond", "ready", "done"]

    def test_script(self, tmp_path: Path) -> None:
        """Two on one line, tuple assignments and one-line functions get their own names."""
        script = tmp_path / "names.py"
        script.write_text(self.SOURCE, encoding="utf-8")
        result = run_syncscope("--format", "json", str(script), merge_stderr=True)
        assert 0 == result.returncode, result.stdout
        assert self.EXPECTED == _names(result.stdout)

    def test_dash_c(self) -> None:
        """Code given with -c is read for names too."""
        result = run_syncscope("--format", "json", "-c", self.SOURCE, merge_stderr=True)
        assert 0 == result.returncode, result.stdout
        assert self.EXPECTED == _names(result.stdout)

    def test_made_in_an_objects_own_init(self, tmp_path: Path) -> None:
        """
        A standard class made in an ``__init__`` is named after the attribute, a program's
        subclass after where it is made, past its own ``__init__`` and its ``super()`` call.
        """
        script = tmp_path / "made_in_init.py"
        script.write_text(
            textwrap.dedent(
                """\
                import threading
                class Gate(threading.Event):
                    def __init__(self, open_=False):
                        super().__init__()
                        if open_:
                            self.set()
                class Box:
                    def __init__(self):
                        self.cond = threading.Condition()
                        self.entry = Gate(open_=True)
                box = Box()
                with box.cond:
                    box.cond.notify()
                box.entry.wait(5)
                """
            ),
            encoding="utf-8",
        )
        result = run_syncscope("--format", "json", str(script), merge_stderr=True)
        assert 0 == result.returncode, result.stdout
        assert ["entry", "cond"] == _names(result.stdout)

    def test_inversion_between_two_locks_of_one_line(self, tmp_path: Path) -> None:
        """Two locks created on one line are two lock classes: their inversion is named right."""
        script = tmp_path / "inversion.py"
        script.write_text(
            textwrap.dedent(
                """\
                import threading
                a = threading.Lock(); b = threading.Lock()
                def one():
                    with a:
                        with b: pass
                t = threading.Thread(target=one); t.start(); t.join(5)
                with b:
                    with a: pass
                """
            ),
            encoding="utf-8",
        )
        result = run_syncscope("-q", str(script), merge_stderr=True)
        assert 0 == result.returncode, result.stdout
        assert "lock-order inversion between lock a and lock b" in result.stdout
        assert "are taken in both orders" not in result.stdout  # not one class taken twice


class TestBadTargetsAndSettings:
    """Bad input gets python's message, or one clear line, never a traceback."""

    @pytest.mark.parametrize("given", ["empty", "./empty/"])
    def test_directory_without_main(self, tmp_path: Path, given: str) -> None:
        """A directory without __main__.py: python's one line and status 1."""
        (tmp_path / "empty").mkdir()
        expected = run_python(given, cwd=tmp_path)
        actual = run_syncscope(given, cwd=tmp_path)
        assert 1 == expected.returncode == actual.returncode
        assert "can't find '__main__' module" in expected.stderr
        assert expected.stderr == actual.stderr

    def test_directory_with_main_still_runs(self, tmp_path: Path) -> None:
        """A directory with __main__.py runs as python runs it."""
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "__main__.py").write_text("print('ran')\n", encoding="utf-8")
        result = run_syncscope("--no-lines", "app", cwd=tmp_path)
        assert (0, "ran\n") == (result.returncode, result.stdout)

    def test_zip_apps_run_as_python_runs_them(self, tmp_path: Path) -> None:
        """
        A zip app runs its __main__.py, a zip without one gets python's line and status, and
        a script is a script even when its name ends in .pyz.
        """
        import zipapp

        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "__main__.py").write_text(
            "import sys, threading\n"
            "lock = threading.Lock()\n"
            "with lock:\n"
            "    print('ran', sys.argv[1:])\n",
            encoding="utf-8",
        )
        zipapp.create_archive(tmp_path / "app", tmp_path / "app.pyz")
        with zipfile.ZipFile(tmp_path / "bare.zip", "w") as bare:
            bare.writestr("other.py", "print('not run')\n")
        (tmp_path / "script.pyz").write_text("print('a script')\n", encoding="utf-8")
        for args in (["app.pyz", "x"], ["bare.zip"], ["script.pyz"]):
            expected = run_python(*args, cwd=tmp_path)
            actual = run_syncscope("-q", "--no-report", *args, cwd=tmp_path)
            assert (expected.returncode, expected.stdout, expected.stderr) == (
                actual.returncode,
                actual.stdout,
                actual.stderr,
            )
        watched = run_syncscope("app.pyz", cwd=tmp_path)
        assert "lock acquired by MainThread" in watched.stderr  # named from the zip's source

    @pytest.mark.parametrize("value", ["otpl", "bogus", "otlp,bogus"])
    def test_unknown_traces_exporter(self, value: str) -> None:
        """OTEL_TRACES_EXPORTER with a name syncscope lacks: one line, status 2."""
        result = run_syncscope(
            "-c", "print('ran')", env={"OTEL_TRACES_EXPORTER": value}, merge_stderr=True
        )
        assert 2 == result.returncode
        assert [
            "syncscope: error: OTEL_TRACES_EXPORTER: unsupported trace exporter "
            f"'{value.rsplit(',', maxsplit=1)[-1]}': choose from otlp, console, none "
            "(see python -m syncscope --help)"
        ] == result.stdout.splitlines()

    def test_no_traces_exporter(self) -> None:
        """OTEL_TRACES_EXPORTER=none runs the program without spans."""
        result = run_syncscope("-c", "print('ran')", env={"OTEL_TRACES_EXPORTER": "none"})
        assert (0, "ran\n") == (result.returncode, result.stdout)


class TestGeneratedCode:
    """A primitive created in generated code (``<...>`` files) belongs to its caller."""

    LIBRARY = textwrap.dedent(
        """\
        import dataclasses
        import threading

        @dataclasses.dataclass
        class Holder:
            lock: object = dataclasses.field(default_factory=threading.Lock)

        def internal():
            return Holder()
        """
    )
    ATTRS_LIBRARY = textwrap.dedent(
        """\
        import threading
        import attr

        @attr.s
        class AttrsHolder:
            lock = attr.ib(factory=threading.Lock)

        def internal_attrs():
            return AttrsHolder()
        """
    )
    PROGRAM = textwrap.dedent(
        """\
        import genlib
        mine = genlib.Holder()
        theirs = genlib.internal()
        for holder in (mine, theirs):
            with holder.lock:
                pass
        """
    )

    def _run(self, tmp_path: Path, library: str, program: str) -> list[dict[str, object]]:
        # A directory named site-packages on the path counts as installed packages.
        packages = tmp_path / "site-packages"
        packages.mkdir()
        (packages / "genlib.py").write_text(library, encoding="utf-8")
        (tmp_path / "main.py").write_text(program, encoding="utf-8")
        result = run_syncscope(
            "--format", "json", "main.py", cwd=tmp_path, env={"PYTHONPATH": str(packages)}
        )
        assert 0 == result.returncode, result.stderr
        return [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]

    def test_dataclass_default_factory(self, tmp_path: Path) -> None:
        """The user's instance of a library dataclass is watched, the library's own is not."""
        events = self._run(tmp_path, self.LIBRARY, self.PROGRAM)
        assert {(tmp_path / "main.py").as_posix() + ":2"} == {e["created_at"] for e in events}
        assert ["acquired", "released"] == [e["outcome"] for e in events]

    def test_attrs_factory(self, tmp_path: Path) -> None:
        """The same for attrs' generated __init__; the name is read from its generated source."""
        pytest.importorskip("attr")
        program = self.PROGRAM.replace("Holder()", "AttrsHolder()").replace(
            "internal()", "internal_attrs()"
        )
        events = self._run(tmp_path, self.ATTRS_LIBRARY, program)
        assert {(tmp_path / "main.py").as_posix() + ":2"} == {e["created_at"] for e in events}
        assert {"lock"} == {e["name"] for e in events}
        assert ["acquired", "released"] == [e["outcome"] for e in events]


class TestPytestProjects:
    """A real pytest project with ``filterwarnings = error``, imported by its own ini."""

    INI = textwrap.dedent(
        """\
        [pytest]
        filterwarnings =
            error
            ignore::myproj.MyWarning
        """
    )
    PACKAGE = textwrap.dedent(
        """\
        from threading import Lock, RLock

        class MyWarning(UserWarning):
            pass

        pools_lock = Lock()

        class Pool:
            def __init__(self):
                self.pool_guard = RLock()
        """
    )
    TESTS = textwrap.dedent(
        """\
        import myproj

        def test_pool():
            with myproj.pools_lock:
                pool = myproj.Pool()
                with pool.pool_guard:
                    pass
        """
    )

    @pytest.fixture
    def project(self, tmp_path: Path) -> Path:
        (tmp_path / "pytest.ini").write_text(self.INI, encoding="utf-8")
        (tmp_path / "myproj").mkdir()
        (tmp_path / "myproj" / "__init__.py").write_text(self.PACKAGE, encoding="utf-8")
        (tmp_path / "tests").mkdir()
        (tmp_path / "tests" / "test_pool.py").write_text(self.TESTS, encoding="utf-8")
        return tmp_path

    def test_plain(self, project: Path) -> None:
        """The project's tests pass under plain pytest (the baseline)."""
        result = run_python("-m", "pytest", "-p", "no:cacheprovider", cwd=project)
        assert 0 == result.returncode, result.stdout + result.stderr
        assert "1 passed" in result.stdout

    def test_under_the_runner(self, project: Path) -> None:
        """`python -m syncscope -m pytest`: no rewrite warning aborts it; the locks are seen."""
        result = run_syncscope(
            "-q", "-m", "pytest", "-p", "no:cacheprovider", cwd=project, merge_stderr=True
        )
        assert 0 == result.returncode, result.stdout
        assert "1 passed" in result.stdout
        assert "cannot be rewritten" not in result.stdout
        assert "pools_lock" in result.stdout
        assert "pool_guard" in result.stdout

    def test_under_the_plugin(self, project: Path) -> None:
        """`pytest --syncscope`: start-up survives, and locks of the early import are seen."""
        result = run_python(
            "-m", "pytest", "--syncscope", "-p", "no:cacheprovider", cwd=project, merge_stderr=True
        )
        assert 0 == result.returncode, result.stdout
        assert "1 passed" in result.stdout
        summary = result.stdout.split("syncscope", 1)[1]
        assert "pools_lock" in summary
        assert "pool_guard" in summary
        header = result.stdout.split("collected", 1)[0]
        assert "myproj.pools_lock" in header
        assert "myproj.RLock" in header


#: A program's subclasses of each primitive, each method counting its calls: what the program
#: calls, and what the original calls of its own (a Barrier's ``_release``, a queue's ``_put``).
SUBCLASS_CALLS_PROGRAM = """\
import collections, queue, threading

calls = collections.Counter()

def counting(cls, names):
    class Sub(cls):
        pass
    for name in names:
        def counted(self, *args, _name=f"{cls.__name__}.{name}", _orig=getattr(cls, name), **kw):
            calls[_name] += 1
            return _orig(self, *args, **kw)
        setattr(Sub, name, counted)
    return Sub

class Permits(threading.Semaphore):  # its count kept elsewhere, each read and write counted
    @property
    def _value(self):
        calls["Permits._value read"] += 1
        return self.__dict__["permits"]

    @_value.setter
    def _value(self, value):
        calls["Permits._value written"] += 1
        self.__dict__["permits"] = value

class Sized(queue.Queue):  # its size read without the mutex, by anyone, counted
    def _qsize(self):
        if not self.mutex.locked():
            calls["Sized._qsize without the mutex"] += 1
        return len(self.queue)

class Simple(queue.SimpleQueue):
    def qsize(self):
        calls["Simple.qsize"] += 1
        return super().qsize()

barrier = counting(threading.Barrier, ["_enter", "_release", "_wait", "_exit", "wait"])(1)
permits = Permits(1)
sized, simple = Sized(2), Simple()
event = counting(threading.Event, ["set", "clear", "wait", "is_set"])()
cond = counting(threading.Condition, ["wait", "notify", "notify_all", "__enter__", "__exit__"])()
sem = counting(threading.Semaphore, ["acquire", "release", "__enter__", "__exit__"])(1)
jobs = counting(queue.Queue, ["put", "get", "_put", "_get", "task_done", "empty", "qsize"])(2)
for n in range(40):
    barrier.wait()
    barrier.wait(1)
    event.set()
    event.wait()
    event.wait(0)
    event.clear()
    event.wait(0)
    with cond:
        cond.notify()
        cond.notify_all()
        cond.wait(0)
    with sem:
        pass
    sem.acquire(False)
    sem.release()
    with permits:
        permits.acquire(False)
    permits.release()
    jobs.put(n)
    try:
        jobs.put(n, timeout=0)
        jobs.put(n, timeout=0)
    except queue.Full:
        pass
    jobs.get()
    jobs.get(timeout=1)
    jobs.task_done()
    jobs.task_done()
    jobs.empty()
    jobs.qsize()
    sized.put(n)
    sized.put_nowait(n)
    sized.get(timeout=1)
    sized.get()
    simple.put(n)
    simple.get(timeout=1)
print(sorted(calls.items()))
"""


class TestSubclassesMethods:
    @pytest.mark.parametrize(
        "mode",
        [
            ["-q"],
            ["--no-report"],
            ["--format", "json", "-o", "{tmp}/lines"],
            ["-q", "--no-report", "--no-deadlock-detection", "--jaeger-file", "{tmp}/spans"],
            ["-q", "--jaeger-file", "{tmp}/spans"],
            ["--all", "-q"],
        ],
        ids=["-q", "lines", "json", "spans", "-q and spans", "--all"],
    )
    def test_called_as_often_as_without_syncscope(self, mode: list[str], tmp_path: Path) -> None:
        """
        A subclass's own methods run when the program or the original calls them, and only
        then: a subclass of Event counting its ``is_set()`` calls (a wrapper asked it on
        each wait) or logging them must see the same calls, whatever syncscope reports; so
        must a Semaphore whose ``_value`` is a property (spans read it before each acquire),
        a queue's own ``_qsize`` (never called without the mutex) and a SimpleQueue's
        ``qsize()`` (the lines' sizes are read from the C queue).
        """
        program = tmp_path / "subclass_calls.py"
        program.write_text(SUBCLASS_CALLS_PROGRAM, encoding="utf-8")
        plain = run_python(str(program))
        assert plain.returncode == 0, plain.stderr
        assert "('Barrier._release', 80)" in plain.stdout, plain.stdout
        options = [option.format(tmp=tmp_path) for option in mode]
        result = run_syncscope(*options, str(program))
        assert (0, plain.stdout) == (result.returncode, result.stdout), result.stderr


_TRACEBACKS = textwrap.dedent(
    """\
    import queue, signal, threading, traceback

    def show(action):
        try:
            action()
        except BaseException:
            traceback.print_exc(file=sys.stdout)

    def interrupted(block):
        signal.signal(signal.SIGALRM, signal.default_int_handler)
        signal.setitimer(signal.ITIMER_REAL, 0.05)  # it can only end by the interrupt
        block()

    import dataclasses, sys
    from concurrent.futures import ThreadPoolExecutor

    @dataclasses.dataclass(frozen=True)
    class FrozenError(Exception):  # refuses every attribute's assignment, __traceback__'s too
        code: int

    class FailingQueue(queue.Queue):
        def _get(self):
            raise FrozenError(1)

    def fail():
        raise FrozenError(2)

    held = threading.Lock()
    held.acquire()
    failing = FailingQueue()
    failing.put(1)
    show(failing.get)
    with ThreadPoolExecutor(1) as pool:
        show(pool.submit(fail).result)
    show(lambda: queue.Queue().get(timeout=0.01))
    show(lambda: queue.LifoQueue(1).put_nowait(1) or queue.LifoQueue(1).get_nowait())
    show(lambda: queue.SimpleQueue().get(timeout=0.01))
    show(lambda: threading.Lock().release())
    show(lambda: threading.RLock().release())
    show(lambda: threading.BoundedSemaphore().release())
    show(lambda: threading.Barrier(2, timeout=0.01).wait())
    show(lambda: threading.Condition().wait())
    show(lambda: threading.Condition().notify())
    show(lambda: interrupted(held.acquire))
    show(lambda: interrupted(lambda: held.acquire(timeout=5)))
    show(lambda: interrupted(queue.Queue().get))
    show(lambda: interrupted(threading.Event().wait))
    queue.Queue().get(timeout=0.01)
    """
)


class TestTracebacks:
    """The frames a user sees from inside a primitive are the ones plain Python shows."""

    @pytest.mark.parametrize("args", [("-o", os.devnull), ("--no-lines",), ("-q",)])
    def test_same_as_python(self, tmp_path: Path, args: tuple[str, ...]) -> None:
        """Caught and printed, or uncaught: no frame of syncscope, every frame of python's."""
        script = tmp_path / "tracebacks.py"
        script.write_text(_TRACEBACKS, encoding="utf-8")
        expected = run_python(str(script))
        actual = run_syncscope(*args, str(script))
        assert 1 == expected.returncode == actual.returncode
        assert 15 == expected.stdout.count("Traceback")
        assert 2 == expected.stdout.count("FrozenError: ")
        assert expected.stdout == actual.stdout
        assert expected.stderr == actual.stderr.split("syncscope report")[0]

    def test_an_exception_with_an_exceptions_attribute_of_its_own(self, tmp_path: Path) -> None:
        """Only an ExceptionGroup's ``exceptions`` are exceptions: a program's own attribute of
        that name (strings here) is no chain to follow."""
        script = tmp_path / "errors.py"
        script.write_text(
            textwrap.dedent(
                """\
                import threading

                class ValidationErrors(Exception):
                    def __init__(self, *problems):
                        super().__init__(f"{len(problems)} problems")
                        self.exceptions = list(problems)

                with threading.Lock():
                    raise ValidationErrors("name is empty", "age is negative")
                """
            ),
            encoding="utf-8",
        )
        expected = run_python(str(script))
        actual = run_syncscope("-q", str(script))
        assert 1 == expected.returncode == actual.returncode
        assert "ValidationErrors: 2 problems" in expected.stderr
        assert expected.stderr == actual.stderr.split("syncscope report")[0]


class TestLibraryCode:
    """What counts as library code (not watched unless --all): the stdlib and site-packages."""

    def test_the_standard_library_and_site_packages_are_library_code(self) -> None:
        import site
        import sysconfig

        from syncscope._core.sites import is_library_file

        assert is_library_file(threading.__file__)
        assert is_library_file(pytest.__file__)  # installed in site-packages
        assert is_library_file(os.path.join(sysconfig.get_paths()["purelib"], "x.py"))
        assert not is_library_file(__file__)
        for path in site.getsitepackages():
            assert is_library_file(os.path.join(path, "somelib", "__init__.py"))

    def test_a_prefix_that_site_lists_is_not_library_code_unless_it_is_site_packages(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """
        On Windows site.getsitepackages() lists the prefix itself, where an embedded python's
        program lives: only its site-packages are library code.
        """
        import site

        from syncscope._core import sites

        prefix = tmp_path / "python"
        packages = prefix / "Lib" / "site-packages"
        monkeypatch.setattr(site, "getsitepackages", lambda: [str(prefix), str(packages)])
        prefixes = sites._library_prefixes()
        assert str(packages) + os.sep in prefixes
        assert str(prefix) + os.sep not in prefixes


class TestThePatchedStandardLibrary:
    """
    A program (or its test tool: blockbuster, pyfakefs, ``mock.patch``) may replace ``os``
    functions and file reads while it runs: making, naming and saying a primitive does not
    call its replacements (anyio's thread tests failed under syncscope only: blockbuster's
    ``os.path.abspath`` raised out of ``threading.Event()``).
    """

    PROGRAM = """\
        import builtins, io, os, sys, threading
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

        def refuse(name):
            def refused(*args, **kwargs):
                raise RuntimeError(f"blocking call to {name}")
            return refused

        for owner, name in [(os.path, "abspath"), (os, "getcwd"), (os, "read"),
                            (os, "write"), (builtins, "open"), (io, "open")]:
            setattr(owner, name, refuse(name))
        import made_here  # a file syncscope has not seen: its primitives are new to it
        print(made_here.use())
        """
    MADE_HERE = """\
        import queue, threading

        def use():
            started = threading.Event()
            lock = threading.Lock()
            jobs = queue.Queue()
            with lock:
                jobs.put(1)
            started.set()
            return jobs.get() + started.is_set()
        """

    @pytest.mark.parametrize("mode", [(), ("-q",), ("-q", "--otlp", "http://127.0.0.1:9")])
    def test_primitives_made_and_said_without_the_program_s_replacements(
        self, tmp_path: Path, mode: tuple[str, ...]
    ) -> None:
        (tmp_path / "made_here.py").write_text(textwrap.dedent(self.MADE_HERE))
        script = tmp_path / "program.py"
        script.write_text(textwrap.dedent(self.PROGRAM))
        plain = run_python(str(script))
        assert (0, "2\n") == (plain.returncode, plain.stdout), plain.stderr
        result = run_syncscope(*mode, "--no-report", str(script))
        assert (0, "2\n") == (result.returncode, result.stdout), result.stderr
        if not mode:  # the lines, written with the os.write syncscope started with
            assert "event started set by MainThread" in result.stderr, result.stderr


class TestEndedThreadsAreNotKept:
    """
    A thread that has ended, and what it refers to, is freed as without syncscope, at once
    (anyio's ``test_asyncio_run_does_not_leak_event_loop`` collects right after the run).
    """

    PROGRAM = """\
        import gc, queue, threading, weakref

        class Worker(threading.Thread):
            def __init__(self, jobs):
                super().__init__()
                self.jobs = jobs
                self.payload = bytearray(10)  # an event loop, say

            def run(self):
                started.set()  # an operation of this thread's, whichever way it goes
                self.jobs.get()

        jobs = queue.Queue()
        started = threading.Event()
        worker = Worker(jobs)
        worker.start()
        started.wait(10)
        jobs.put(1)
        worker.join(10)
        gone = weakref.ref(worker)
        del worker
        gc.collect()  # at once: what syncscope has not written or paired yet names no Thread
        print("freed" if gone() is None else "kept")
        """

    @pytest.mark.parametrize(
        "mode",
        [(), ("-q",), ("-q", "--otlp", "http://127.0.0.1:9"), ("-q", "--timeline", "{tmp}")],
    )
    def test_a_thread_that_ended_is_freed(self, tmp_path: Path, mode: tuple[str, ...]) -> None:
        mode = tuple(arg.format(tmp=tmp_path / "timeline.json") for arg in mode)
        script = tmp_path / "program.py"
        script.write_text(textwrap.dedent(self.PROGRAM))
        result = run_syncscope(*mode, "--no-report", str(script))
        assert (0, "freed\n") == (result.returncode, result.stdout), result.stderr
