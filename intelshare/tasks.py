"""Celery tasks of the hub: thin wrappers taking ids (STYLE.md §5)."""

from __future__ import annotations

from celery import shared_task

from intelshare import submissions


@shared_task(
    name=submissions.PROCESS_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=1700,
    time_limit=1800,
)
def process_status(status_id: str) -> None:
    """Store a large TAXII POST envelope (§5.5) recorded in a pending status."""
    submissions.process(status_id)


@shared_task(name="intelshare.resume_pending_statuses", ignore_result=True)
def resume_pending_statuses() -> None:
    """Re-enqueue pending submissions whose task was lost."""
    submissions.resume_pending()


@shared_task(name="intelshare.purge_statuses", ignore_result=True)
def purge_statuses() -> None:
    """Forget complete status resources past their retention (§4.3)."""
    submissions.purge()
