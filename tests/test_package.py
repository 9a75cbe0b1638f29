"""The package surface: pinned public names, no test libraries imported by ``funnelkit``."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from importlib import metadata

import pytest

import funnelkit


FUNNELKIT_ALL = [
    "Actor",
    "ConflictError",
    "Contact",
    "ContactData",
    "Converter",
    "CreateTask",
    "Deal",
    "DealStatus",
    "Document",
    "DocumentKind",
    "EntityKind",
    "EntityRef",
    "FixedClock",
    "Funnel",
    "FunnelkitError",
    "InMemoryStore",
    "Intake",
    "Lead",
    "LeadSource",
    "LeadStatus",
    "MatchPolicy",
    "MergePolicy",
    "Money",
    "MoveRefusedError",
    "NotFoundError",
    "Payment",
    "PaymentKind",
    "Period",
    "Pipeline",
    "Plan",
    "QualificationPolicy",
    "Reason",
    "SequentialIds",
    "Service",
    "SetField",
    "Stage",
    "StageKind",
    "StoreNotReadyError",
    "StructureError",
    "Target",
    "Task",
    "TaskKind",
    "TaskPolicy",
    "TaskStatus",
    "UnitOfWorkError",
    "ValidationError",
    "Violation",
    "__version__",
    "analytics",
    "configure_converter",
    "event_from_data",
    "events",
    "events_from_data",
    "exceptions",
    "from_data",
    "matching",
    "model",
    "pipelines",
    "plans",
    "qualification",
    "service",
    "storage",
    "tasks",
    "to_data",
]

MATCHING_ALL = [
    "Band",
    "ClientCategory",
    "ClientKind",
    "Comparator",
    "Contribution",
    "CustomerPolicy",
    "CustomerProfile",
    "FieldDecision",
    "FieldMerge",
    "FieldRule",
    "Level",
    "MatchPolicy",
    "MatchRecord",
    "MatchResult",
    "MergePlan",
    "MergePolicy",
    "Normaliser",
    "PairScore",
    "RequestKind",
    "SurvivorRule",
    "UndoRecord",
    "apply_merge",
    "claim_contact",
    "fold_name",
    "link_lead",
    "undo_merge",
]

PIPELINES_ALL = [
    "DEAL_FIELDS",
    "LEAD_FIELDS",
    "OPEN_TASKS",
    "Action",
    "BulkMove",
    "Callback",
    "CompiledPipeline",
    "Condition",
    "CreateTask",
    "Effect",
    "EntryAction",
    "ExtraMove",
    "Funnel",
    "Guard",
    "LeadConversion",
    "Message",
    "MoveAttempt",
    "MovePolicy",
    "MoveRefusedError",
    "MoveResult",
    "NextDeal",
    "PaymentRule",
    "Pipeline",
    "PipelineKind",
    "PlannedTask",
    "Reason",
    "Replay",
    "ReplayProblem",
    "SetField",
    "Stage",
    "StageKind",
    "Unless",
    "to_mermaid",
]

STORAGE_ALL = [
    "ContactKeys",
    "ContactRepository",
    "DealRepository",
    "EventStore",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "LeadRepository",
    "RecordedEvent",
    "Store",
    "TaskRepository",
    "UnitOfWork",
    "basic_contact_keys",
]

STRATEGIES_ALL = [
    "DrawnMove",
    "actors",
    "aware_datetimes",
    "contact_data",
    "contacts",
    "custom_field_schemas",
    "deals",
    "documents",
    "entity_refs",
    "events",
    "field_value_for",
    "field_values",
    "identifiers",
    "lead_sources",
    "leads",
    "moneys",
    "move_attempts",
    "move_sequences",
    "payments",
    "periods",
    "pipeline_entities",
    "pipelines",
    "plans",
    "tasks",
    "texts",
]

CONTRACTS_ALL = [
    "FAILING_KEYS_COMPANY",
    "UNSTORABLE_KEYS_COMPANY",
    "ContactRepositoryContract",
    "DealRepositoryContract",
    "EventStoreContract",
    "LeadRepositoryContract",
    "RepositoryContract",
    "StoreContract",
    "TaskRepositoryContract",
    "UnitOfWorkContract",
]

PIPELINE_KIT_ALL = [
    "PipelineMachine",
    "check_pipeline",
    "check_pipelines",
]

LAWS_ALL = [
    "check_matching_laws",
    "check_merge_laws",
    "check_qualification_laws",
]

STATEFUL_ALL = [
    "StoreMachine",
    "check_store",
]


# Names that stay in their topic module: too specialised for the top-level namespace.
ANALYTICS_ALL = [
    "Bottleneck",
    "Bottlenecks",
    "Bucket",
    "ClosingTimes",
    "Cohort",
    "Cohorts",
    "ConversionReport",
    "Counting",
    "Curve",
    "DateBasis",
    "DealSteps",
    "Filters",
    "Forecast",
    "ForecastStage",
    "GroupOutcomes",
    "Histories",
    "History",
    "Journey",
    "LeadFlow",
    "LogEvent",
    "LostReasons",
    "Outcome",
    "Per",
    "PlanFact",
    "PlanFacts",
    "Reach",
    "Receivable",
    "Receivables",
    "ResponseTimes",
    "SlaReport",
    "SourceRow",
    "Sources",
    "StageFlows",
    "StageLog",
    "StageTimes",
    "TaskHistory",
    "TaskLoad",
    "TimeInStage",
    "Velocity",
    "WinRate",
    "aalen_johansen",
    "bottlenecks",
    "closing_times",
    "cohorts",
    "conversion",
    "deal_steps",
    "forecast",
    "funnel_chart",
    "histories",
    "kaplan_meier",
    "lead_flow",
    "lost_reasons",
    "plan_vs_fact",
    "quantile",
    "receivables",
    "response_times",
    "sankey",
    "sla_report",
    "sources",
    "stage_flows",
    "task_load",
    "time_in_stage",
    "time_in_stage_chart",
    "velocity",
    "win_rate",
]

PLANS_ALL = ["Measure", "Plan", "Target", "TargetKey"]
QUALIFICATION_ALL = [
    "Backtest",
    "BlockedPhones",
    "FeatureWeight",
    "Finding",
    "Intake",
    "IntakeResult",
    "LearnedScore",
    "MissingContact",
    "NaiveBayesScorer",
    "OnReview",
    "OpenDuplicate",
    "Predicate",
    "Qualification",
    "QualificationContext",
    "QualificationPolicy",
    "QualificationRule",
    "Scored",
    "SpamPattern",
    "backtest",
    "lead_features",
]
EVENTS_ALL = [
    "EVENT_TYPES",
    "UPCASTERS",
    "AmountChanged",
    "ContactCreated",
    "ContactUpdated",
    "ContactsMerged",
    "ContactsUnmerged",
    "DealCreated",
    "DealLost",
    "DealWon",
    "DocumentVersionAdded",
    "Event",
    "FieldChanged",
    "LeadClosedAsJunk",
    "LeadConverted",
    "LeadCreated",
    "LeadLinked",
    "LeadQualified",
    "MoveEvent",
    "OwnerChanged",
    "PaymentReceived",
    "StageChanged",
    "TaskCancelled",
    "TaskCompleted",
    "TaskCreated",
    "TaskReassigned",
    "TaskRescheduled",
    "Temperature",
    "Upcaster",
    "Verdict",
]


def _isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then everything else."""
    group = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return (group, name)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("funnelkit", FUNNELKIT_ALL),
        ("funnelkit.pipelines", PIPELINES_ALL),
        ("funnelkit.matching", MATCHING_ALL),
        ("funnelkit.storage", STORAGE_ALL),
        ("funnelkit.plans", PLANS_ALL),
        ("funnelkit.analytics", ANALYTICS_ALL),
        ("funnelkit.events", EVENTS_ALL),
        ("funnelkit.qualification", QUALIFICATION_ALL),
        ("funnelkit.testing.strategies", STRATEGIES_ALL),
        ("funnelkit.testing.contracts", CONTRACTS_ALL),
        ("funnelkit.testing.stateful", STATEFUL_ALL),
        ("funnelkit.testing.pipelines", PIPELINE_KIT_ALL),
        ("funnelkit.testing.laws", LAWS_ALL),
    ],
)
def test_public_names_are_pinned(module, expected):
    """Each public module exports exactly the pinned names; a change here is an API change."""
    assert expected == importlib.import_module(module).__all__


PUBLIC_MODULES = [
    "funnelkit",
    "funnelkit.model",
    "funnelkit.pipelines",
    "funnelkit.matching",
    "funnelkit.tasks",
    "funnelkit.plans",
    "funnelkit.analytics",
    "funnelkit.storage",
    "funnelkit.exceptions",
    "funnelkit.testing.strategies",
    "funnelkit.testing.contracts",
    "funnelkit.testing.stateful",
    "funnelkit.testing.pipelines",
    "funnelkit.testing.laws",
]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_all_is_sorted_and_every_name_exists(module):
    """``__all__`` is sorted (constants, then classes, then functions) and names what exists."""
    exported = importlib.import_module(module).__all__
    assert sorted(exported, key=_isort_key) == exported
    assert [name for name in exported if not hasattr(importlib.import_module(module), name)] == []


TOPICS = [
    "model",
    "events",
    "pipelines",
    "matching",
    "qualification",
    "tasks",
    "plans",
    "storage",
    "exceptions",
    "service",
]


def test_the_front_door_is_curated_and_each_topic_keeps_its_full_list():
    """``fk`` holds the everyday names; each of them is also in its topic module's list."""
    topics = {
        name for topic in TOPICS for name in importlib.import_module(f"funnelkit.{topic}").__all__
    }
    converter = {
        "Converter",
        "configure_converter",
        "from_data",
        "to_data",
        "event_from_data",
        "events_from_data",
        "__version__",
    }
    modules = {
        name for name in funnelkit.__all__ if isinstance(getattr(funnelkit, name), types.ModuleType)
    }
    assert sorted(set(funnelkit.__all__) - topics - converter - modules) == []
    assert len(set(funnelkit.__all__) - modules) <= 55  # about 40 classes, the converter, errors


def test_events_live_in_funnelkit_events_only():
    exported = [getattr(funnelkit.events, name) for name in funnelkit.events.__all__]
    assert set(funnelkit.events.EVENT_TYPES.values()) <= {
        e for e in exported if isinstance(e, type)
    }
    assert not {"StageChanged", "EVENT_TYPES", "Event"} & set(funnelkit.__all__)
    assert not {"StageChanged", "EVENT_TYPES", "Event"} & set(funnelkit.model.__all__)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_classes_report_their_public_module(module):
    """``fk.model.Deal.__module__`` is ``funnelkit.model``, not a private file (as httpx does)."""
    found = importlib.import_module(module)
    private = [
        f"{name}: {value.__module__}"
        for name in found.__all__
        if isinstance(value := getattr(found, name), type)
        and value.__module__.startswith("funnelkit")
        and any(part.startswith("_") for part in value.__module__.split("."))
    ]
    assert private == []


def test_importing_funnelkit_imports_no_test_library():
    """``import funnelkit`` loads neither hypothesis nor pytest (they are an extra)."""
    code = (
        "import sys, funnelkit, funnelkit.model, funnelkit.storage; "
        "print(sorted(m for m in ('hypothesis', 'pytest', '_pytest') if m in sys.modules))"
    )
    result = subprocess.run(  # noqa: S603 - runs this interpreter on a fixed snippet
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_version_is_the_installed_distribution_version():
    """``funnelkit.__version__`` is the version pip installed."""
    assert metadata.version("funnelkit") == funnelkit.__version__


def test_no_two_public_classes_or_functions_share_a_name():
    """One name, one thing: ``Conversion`` once meant a lead's conversion and a report."""
    seen: dict[str, object] = {}
    clashes = []
    for module in PUBLIC_MODULES:
        for name in importlib.import_module(module).__all__:
            found = getattr(importlib.import_module(module), name)
            if not callable(found) or name.startswith("_"):
                continue
            if seen.setdefault(name, found) is not found:
                clashes.append(f"{module}.{name}")
    assert clashes == []


@pytest.mark.parametrize(
    ("module", "hidden", "extra"),
    [
        ("funnelkit.storage.sql", "sqlalchemy", "funnelkit[sql]"),
        ("funnelkit.storage.sql", "alembic", "funnelkit[sql]"),
        ("funnelkit.testing.strategies", "hypothesis", "funnelkit[testing]"),
    ],
)
def test_a_missing_extra_is_named_with_the_command_that_installs_it(module, hidden, extra):
    """Without its extra, importing a module that needs it says which extra to install."""
    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        f"importlib.util.find_spec = lambda n, *a: None if n == {hidden!r} else real(n, *a)\n"
        f"sys.modules[{hidden!r}] = None\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(  # noqa: S603 - runs this interpreter on a fixed snippet
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert hidden in result.stdout
    assert f'pip install "{extra}"' in result.stdout


def test_hypothesis_draws_valid_funnelkit_values_from_their_types():
    """The entry point registers the kit's strategies: ``st.from_type`` works for each value."""
    code = (  # the kit first: Hypothesis' hook runs while the kit is being imported
        "from funnelkit.testing import strategies\n"
        "from hypothesis import given, settings, strategies as st\n"
        "import funnelkit as fk\n"
        "from funnelkit.testing._hypothesis import strategies_by_type\n"
        "seen = []\n"
        "for type_ in strategies_by_type():\n"
        "    @settings(max_examples=5, database=None)\n"
        "    @given(st.from_type(type_))\n"
        "    def drawn(value):\n"
        "        assert type(value) is type_\n"
        "        assert fk.from_data(fk.to_data(value), type_) == value\n"
        "        seen.append(type_)\n"
        "    drawn()\n"
        "print(len(set(seen)), len(strategies_by_type()))\n"
    )
    result = subprocess.run(  # noqa: S603 - a fresh interpreter: Hypothesis loads the entry point
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    drawn, registered = result.stdout.split()
    assert drawn == registered
