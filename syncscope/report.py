"""
The report of a run: the primitives that cost the most waiting, and what was found (lock-order
inversions, deadlocks, hangs, slow spots), as a terminal table and as JSON.

``python -m syncscope --report script.py`` writes the text to standard error at exit (it is on
by default with ``-q``), ``--report-json FILE`` the JSON. From Python::

    with syncscope.record() as rec:
        ...
    print(syncscope.report.Report.of(rec).text())

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from ._sinks.report import FORMAT, Report


__all__ = ["FORMAT", "Report"]
