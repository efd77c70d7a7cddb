"""Every job is declared once (exchange.core.jobs.REGISTRY); the scheduler, the configuration, the locks, status,
the console and the vocabulary read it."""

from __future__ import annotations

import inspect

from exchange.app.job import BUSY, JOB_LOCKS
from exchange.app.launch import LAUNCHABLE
from exchange.app.scheduled import use_case
from exchange.app.status import JOBS as STATUS_JOBS
from exchange.config import ScheduleConfig, parse_config
from exchange.core.jobs import JOB_KINDS, REGISTRY
from exchange.core.vocabulary import JOB_LABELS, JOBS, SCHEDULED_JOBS
from exchange.store import fences
from jobs.scheduler import job_specs
from jobs.tasks import TASKS


def test_each_scheduled_job_has_its_schedule_key_defaulting_to_the_registry(tmp_path):
    schedule = parse_config({}, tmp_path).schedule
    for job in REGISTRY:
        if job.scheduled:
            value = getattr(schedule, job.id)
            assert (list(job.schedule) if job.several else job.schedule[0]) == value, job.id
    assert [(s.id, s.job) for s in job_specs(ScheduleConfig())] == [
        ("collect", "collect"),
        ("nightly", "nightly"),
        ("campaign-0", "campaign"),
        ("campaign-1", "campaign"),
        ("purge", "purge"),
    ]


def test_each_job_started_by_the_scheduler_or_the_console_names_a_use_case_of_one_signature():
    for job in REGISTRY:
        if job.scheduled or job.launch:
            params = inspect.signature(use_case(job.id)).parameters
            assert list(params)[:3] == ["config", "engine", "job"] and {"stop", "fence"} <= set(params), job.id
    assert set(TASKS) == set(SCHEDULED_JOBS)
    assert {
        "collect": JOB_KINDS["collect"].launch,
        "nightly": JOB_KINDS["nightly"].launch,
        "campaign": JOB_KINDS["campaign"].launch,
    } == LAUNCHABLE


def test_locks_labels_and_lists_come_from_the_registry():
    locks = {fences.CYCLE_LOCK, fences.CAMPAIGN_LOCK, fences.HABILITATIONS_LOCK}
    assert set(JOB_LOCKS.values()) == locks == set(BUSY)
    assert JOB_LOCKS["purge"] == fences.CYCLE_LOCK  # a purge never removes a file a cycle is reading
    assert JOBS == ("run", "collect", "nightly", "campaign", "replay", "purge")
    assert SCHEDULED_JOBS == ("collect", "nightly", "campaign", "purge")
    assert JOB_LABELS["nightly"] == "traitement de nuit" and "habilitations" not in JOB_LABELS
    assert STATUS_JOBS == ("run", "collect", "nightly", "campaign")
