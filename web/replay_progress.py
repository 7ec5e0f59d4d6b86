"""The progress bar of ``koppel projections rebuild``: positions of the log gone through out of
those there are, and the rate, so an operator replaying a million events sees how long is left.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text


class EventsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        if not task.completed or not task.elapsed:
            return Text("- events/s", style="progress.data.speed")
        return Text(f"{task.completed / task.elapsed:,.0f} events/s", style="progress.data.speed")


@contextmanager
def replay_progress(description: str = "replaying the event log",
                    console: Console | None = None
                    ) -> Iterator[Callable[[int, int], None]]:
    """Yields the ``progress(done, total)`` callback ``Projector.rebuild`` calls a page."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("events"), EventsPerSecond(), TimeElapsedColumn(),
               TextColumn("elapsed,"), TimeRemainingColumn(), TextColumn("left"))
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)

