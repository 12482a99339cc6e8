"""Handlers and how a run finds its handler: by routine id, title, task or label selector."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from firehook.executor.runs import Run

Handler = Callable[[Run], Awaitable[Any]]


@dataclass(frozen=True)
class Selector:
    """Which runs a handler takes; every given criterion must hold."""

    routine_id: str | None = None
    title: str | None = None
    task: str | None = None
    labels: Mapping[str, str] | None = None

    def matches(self, run: Run) -> bool:
        if self.routine_id is not None and run.routine_id != self.routine_id:
            return False
        if self.title is not None and run.title != self.title:
            return False
        if self.task is not None and run.task != self.task:
            return False
        if self.labels:
            labels = run_labels(run)
            return all(labels.get(name) == value for name, value in self.labels.items())
        return True


def run_labels(run: Run) -> dict[str, str]:
    """The labels a selector matches: the routine's attributes (assigneeAgentId, projectId,
    goalId, priority, ...), its task's `collection`, and the routine's `labels` if it has any."""
    routine = run.context["routine"]
    labels = {
        name: str(value)
        for name, value in routine.items()
        if value is not None and not isinstance(value, dict | list)
    }
    task = run.context.get("task")
    if task:
        labels["collection"] = str(task["collection"])
    extra = routine.get("labels")
    if isinstance(extra, dict):
        labels |= {str(name): str(value) for name, value in extra.items()}
    return labels


class Registry:
    """Handlers in registration order; the first whose selector matches takes the run."""

    def __init__(self) -> None:
        self._handlers: list[tuple[Selector, Handler]] = []

    def add(self, selector: Selector, handler: Handler) -> None:
        if not any(
            (selector.routine_id, selector.title, selector.task, selector.labels is not None)
        ):
            raise ValueError("a handler needs a routine_id, title, task or labels selector")
        self._handlers.append((selector, handler))

    def handler_for(self, run: Run) -> Handler | None:
        for selector, handler in self._handlers:
            if selector.matches(run):
                return handler
        return None

    def __bool__(self) -> bool:
        return bool(self._handlers)
