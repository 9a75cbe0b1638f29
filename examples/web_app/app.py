"""
A web app on funnelkit: FastAPI in front of `Service`, on a `SqlStore`.

The roofing company of seed 002 takes requests from its site, its managers move deals through
the pipeline, read their day and the funnel. One `SqlStore` (and its connection pool) lives as
long as the app; each request gets its own `Service` on it, with the time and ids of the real
world, which the app provides: funnelkit itself does no I/O.

- ``POST /requests``: take in a request from the site form (normalise, qualify, link or create
  the contact, place the lead).
- ``POST /leads/{lead_id}/convert``: turn a good lead into a deal.
- ``PATCH /deals/{deal_id}``: fill in a deal's custom fields (typed as funnelkit's plain data).
- ``POST /deals/{deal_id}/move``: move a deal; a refusal comes back as ``409`` with its
  violations and the stages allowed now.
- ``GET /managers/{manager}/agenda?day=2026-04-02``: a manager's day.
- ``GET /reports/funnel``: the deal pipeline's conversion, one row per stage.

Who is asking comes in the ``X-Actor`` and ``X-Roles`` headers here; a real app takes them from
its own authentication. Run it with ``uvicorn examples.web_app.app:app`` after
``pip install fastapi uvicorn "funnelkit[sql]"``.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.qualification import BlockedPhones, OpenDuplicate, SpamPattern
from funnelkit.seeds.pipelines import LEADS, ROOFING
from funnelkit.storage.sql import SqlStore


if TYPE_CHECKING:
    from collections.abc import Iterator

MSK = timezone(timedelta(hours=3), "MSK")
FUNNEL = fk.Funnel(key="кровля", leads=LEADS, deals=(ROOFING,), chained=False)
INTAKE = fk.Intake(
    pipeline=LEADS,
    qualification=fk.QualificationPolicy(
        rules=(
            SpamPattern(patterns=("казино", "ставки", "раскрутка сайтов")),
            BlockedPhones(phones=frozenset({"+79990000000"})),
            OpenDuplicate(),
        )
    ),
    junk_stages={"spam": "Спам", "contractor": "Подрядчик", "duplicate": "Дубль"},
)


class SystemClock:
    """The real time, in UTC: the app's, given to funnelkit."""

    def now(self) -> datetime:
        """The time now."""
        return datetime.now(timezone.utc)


class RandomIds:
    """Ids that stay unique across requests, processes and restarts."""

    _PREFIXES: ClassVar[dict[fk.EntityKind, str]] = {
        fk.EntityKind.CONTACT: "К-",
        fk.EntityKind.LEAD: "Л-",
        fk.EntityKind.DEAL: "С-",
        fk.EntityKind.TASK: "З-",
    }

    def new_id(self, kind: fk.EntityKind) -> str:
        """A new id for an entity of `kind`: its prefix and 12 random hex digits."""
        return self._PREFIXES[kind] + uuid.uuid4().hex[:12]


class NewRequest(BaseModel):
    """A request from the site form, as the client typed it."""

    name: str = ""
    phone: str = ""
    email: str = ""
    message: str = ""
    channel: str = "site_form"
    site: str | None = None


class Fields(BaseModel):
    """Custom field values, in funnelkit's plain-data form (``{"date": "2026-04-02"}``...)."""

    fields: dict[str, Any]


class Move(BaseModel):
    """Where to move a deal, and why (a reason for a loss, a note for anything)."""

    to_stage: str
    reason: str | None = None
    note: str = ""


def create_app(
    url: str, *, clock: fk.model.Clock | None = None, ids: fk.model.IdFactory | None = None
) -> FastAPI:
    """The app on the database at `url`, which it creates if it is new."""
    store = SqlStore.from_url(url, contact_keys=INTAKE.matching.contact_keys)
    store.create_schema()
    app = FastAPI(title="Кровля: заявки и сделки")
    app.state.store = store
    app.state.clock = clock or SystemClock()
    app.state.ids = ids or RandomIds()
    _routes(app)
    _errors(app)
    return app


def service(request: Request) -> Iterator[fk.Service]:
    """A `Service` for this request, on the app's store."""
    state = request.app.state
    yield fk.Service(
        clock=state.clock, ids=state.ids, funnel=FUNNEL, store=state.store, intake=INTAKE
    )


def actor(x_actor: Annotated[str, Header()], x_roles: Annotated[str, Header()] = "") -> fk.Actor:
    """Who is asking, from the headers (a real app reads its own authentication)."""
    roles = frozenset(role.strip() for role in x_roles.split(",") if role.strip())
    return fk.Actor(id=x_actor, roles=roles)


Crm = Annotated[fk.Service, Depends(service)]
Who = Annotated[fk.Actor, Depends(actor)]


def _routes(app: FastAPI) -> None:
    @app.post("/requests", status_code=201)
    def take_in(body: NewRequest, crm: Crm, who: Who) -> dict[str, Any]:
        lead = fk.Lead(
            id=app.state.ids.new_id(fk.EntityKind.LEAD),
            created_at=app.state.clock.now(),
            pipeline=LEADS.key,
            stage=LEADS.first_stage.key,
            source=fk.LeadSource(channel=body.channel, site=body.site),
            contact_data=fk.ContactData(
                name=body.name or None,
                phones=(body.phone,) if body.phone else (),
                emails=(body.email,) if body.email else (),
            ),
            message=body.message,
        )
        taken = crm.take_in(lead, actor=who)
        return {
            "lead": fk.to_data(taken.lead),
            "verdict": taken.qualification.verdict.value,
            "contact_id": taken.contact_id,
            "created_contact": taken.created_contact,
        }

    @app.post("/leads/{lead_id}/convert", status_code=201)
    def convert(lead_id: str, crm: Crm, who: Who) -> dict[str, Any]:
        converted = crm.convert(fk.EntityRef(kind=fk.EntityKind.LEAD, id=lead_id), actor=who)
        return {"deal": fk.to_data(converted.deal)}

    @app.patch("/deals/{deal_id}")
    def update(deal_id: str, body: Fields, crm: Crm, who: Who) -> dict[str, Any]:
        values = fk.from_data(body.fields, fk.model.FieldValues)  # refused with its path
        ref = fk.EntityRef(kind=fk.EntityKind.DEAL, id=deal_id)
        return {"deal": fk.to_data(crm.update(ref, actor=who, fields=values))}

    @app.post("/deals/{deal_id}/move")
    def move(deal_id: str, body: Move, crm: Crm, who: Who) -> dict[str, Any]:
        ref = fk.EntityRef(kind=fk.EntityKind.DEAL, id=deal_id)
        moved = crm.move(ref, body.to_stage, actor=who, reason=body.reason, note=body.note)
        return {"deal": fk.to_data(moved)}

    @app.get("/managers/{manager}/agenda")
    def agenda(manager: str, day: date, crm: Crm) -> dict[str, Any]:
        found = crm.agendas(day, MSK).get(manager)
        return {"manager": manager, "agenda": None if found is None else fk.to_data(found)}

    @app.get("/reports/funnel")
    def funnel(crm: Crm) -> dict[str, Any]:
        report = fa.conversion(crm.histories(), ROOFING)
        return {"pipeline": ROOFING.key, "rows": fk.to_data(report.rows())}


def _errors(app: FastAPI) -> None:
    """Funnelkit's errors as JSON: what was refused, and why, in the words of the rules."""

    @app.exception_handler(fk.MoveRefusedError)
    def refused(_: Request, error: fk.MoveRefusedError) -> JSONResponse:
        return JSONResponse(
            status_code=409,
            content={
                "error": "move_refused",
                "message": str(error),
                "violations": fk.to_data(list(error.violations)),
                "allowed": list(error.violations[0].allowed) if error.violations else [],
            },
        )

    @app.exception_handler(fk.NotFoundError)
    def not_found(_: Request, error: fk.NotFoundError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": "not_found", "message": str(error)})

    @app.exception_handler(fk.ConflictError)
    def conflict(_: Request, error: fk.ConflictError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"error": "conflict", "message": str(error)})

    @app.exception_handler(fk.ValidationError)
    def invalid(_: Request, error: fk.ValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "error": "invalid",
                "field": error.field,
                "rule": error.rule,
                "message": str(error),
            },
        )


def __getattr__(name: str) -> FastAPI:
    """``app`` for ``uvicorn examples.web_app.app:app``, on ``FUNNELKIT_DATABASE`` (made once)."""
    if name != "app":
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    made = create_app(os.environ.get("FUNNELKIT_DATABASE", "sqlite:///crm.db"))
    globals()["app"] = made
    return made
