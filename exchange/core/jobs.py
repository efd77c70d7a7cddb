"""Every job, declared once: its id, French label, lock, default schedule and the use case it runs.

The scheduler (jobs/), `[schedule]`'s defaults (exchange.config), the job wrapper's locks (exchange.app.job),
`status`, the console and the vocabulary (JOBS, SCHEDULED_JOBS, JOB_LABELS) all read this table. The use case
is named by text ("module:function", resolved by exchange.app.scheduled) so that the core stays pure; it is
called as `use_case(config, engine, job, stop=…, fence=…)` and returns the job wrapper's RunOutcome.
"""

from __future__ import annotations

from dataclasses import dataclass

CYCLE, CAMPAIGN, HABILITATIONS = "cycle", "campaign", "habilitations"  # the job locks (exchange.store.fences)


@dataclass(frozen=True)
class Job:
    """One job of the exchange."""

    id: str
    label: str  # its name in French (pages, journal, status)
    lock: str  # the lock it runs under; every job sharing it is closed as interrupted by the next holder
    use_case: str = ""  # "module:function" the scheduler and the console start; "" when only the CLI starts it
    schedule: tuple[str, ...] = ()  # default crontab(s) of its `[schedule]` key; () when never scheduled
    several: bool = False  # its `[schedule]` key is a list of crontabs (one scheduled entry each: <id>-0, <id>-1…)
    cycle: bool = False  # runs a cycle (resumes unfinished files first)
    emits: bool = False  # a cycle that then writes the Caf files
    recorded: bool = True  # recorded in `runs` (an extract import is recorded in `hab_imports` instead)
    in_status: bool = False  # `status` and /sante show its last run
    launch: str = ""  # the console may start it now (« Lancer maintenant »): what it does, in French

    @property
    def scheduled(self) -> bool:
        return bool(self.schedule)


REGISTRY: tuple[Job, ...] = (
    Job("run", "cycle complet", CYCLE, cycle=True, emits=True, in_status=True),
    Job(
        "collect",
        "collecte",
        CYCLE,
        "exchange.app.run:cycle_job",
        ("*/15 * * * *",),
        cycle=True,
        in_status=True,
        launch="collecte les fichiers déposés, les juge et écrit les comptes rendus (sans fichier Caf)",
    ),
    Job(
        "nightly",
        "traitement de nuit",
        CYCLE,
        "exchange.app.run:cycle_job",
        ("0 2 * * *",),
        cycle=True,
        emits=True,
        in_status=True,
        launch="collecte et juge comme la collecte, puis écrit les fichiers delta des Caf",
    ),
    Job(
        "campaign",
        "clôture de campagne",
        CAMPAIGN,
        "exchange.app.campaign:campaign_job",
        ("30 0 16 1 *", "30 0 1 3 *"),
        several=True,
        in_status=True,
        launch="écrit les fichiers de campagne de l'année écoulée pour chaque Caf",
    ),
    Job("replay", "rejeu", CYCLE, cycle=True, emits=True),
    Job("purge", "purge", CYCLE, "exchange.app.purge:purge_job", ("0 4 * * *",)),  # never under a running cycle
    Job("habilitations", "import d'extrait Habpps", HABILITATIONS, recorded=False),
)
JOB_KINDS = {job.id: job for job in REGISTRY}


def default_schedule(job: str) -> str:
    """The default crontab of a scheduled job's `[schedule]` key (one crontab)."""
    return JOB_KINDS[job].schedule[0]


def default_schedules(job: str) -> list[str]:
    """The default crontabs of a scheduled job whose `[schedule]` key is a list."""
    return list(JOB_KINDS[job].schedule)
