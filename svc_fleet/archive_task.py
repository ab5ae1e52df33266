"""Stop-and-archive as a resumable sequence of steps.

Each step is reported (running → completed | skipped | failed). A failed step stops the sequence; running
the task again resumes at the failed step (completed steps are not repeated). Steps are injected by the
service: capture final status, stop the bot, stop the container, archive the folder, remove the container.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shared.errors import HbError

STEPS = ("final_status", "stop_bot", "stop_container", "archive", "remove_container", "mark_archived")


class Skip(Exception):
    """Raised by a step with nothing to do (e.g. the container is already gone)."""


Step = Callable[[], Awaitable[str | None]]
Report = Callable[[str, str, str], Awaitable[None]]


@dataclass
class ArchiveTask:
    bot_name: str
    options: dict
    status: str = "pending"  # pending | running | completed | failed
    steps: dict[str, dict] = field(default_factory=dict)
    failed_step: str | None = None
    error: str | None = None
    attempts: int = 0
    started_at: float = 0.0
    finished_at: float | None = None

    def view(self) -> dict:
        return {"bot_name": self.bot_name, "status": self.status, "failed_step": self.failed_step,
                "error": self.error, "attempts": self.attempts, "options": self.options,
                "steps": [{"step": s, **self.steps.get(s, {"status": "pending"})} for s in STEPS],
                "started_at": self.started_at, "finished_at": self.finished_at}

    async def run(self, steps: dict[str, Step], report: Report, fatal: tuple[str, ...]) -> bool:
        """Run the steps not completed yet. Returns True when every step completed or was skipped."""
        self.status, self.attempts, self.started_at = "running", self.attempts + 1, time.time()
        self.failed_step = self.error = None
        for name in STEPS:
            if self.steps.get(name, {}).get("status") in ("completed", "skipped"):
                continue
            self.steps[name] = {"status": "running", "detail": "", "ts": time.time()}
            await report(name, "running", "")
            try:
                detail = await steps[name]() or ""
                outcome = "completed"
            except Skip as exc:
                detail, outcome = str(exc), "skipped"
            except HbError as exc:
                detail, outcome = exc.msg, "failed"
            except Exception as exc:  # noqa: BLE001 - any step failure is reported, the task stays resumable
                detail, outcome = f"{type(exc).__name__}: {exc}", "failed"
            self.steps[name] = {"status": outcome, "detail": detail, "ts": time.time()}
            await report(name, outcome, detail)
            if outcome == "failed" and name in fatal:
                self.status, self.failed_step, self.error = "failed", name, detail
                self.finished_at = time.time()
                return False
        self.status, self.finished_at = "completed", time.time()
        return True
