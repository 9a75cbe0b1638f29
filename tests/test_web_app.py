"""The web app example, through FastAPI's test client, on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from examples.web_app.app import create_app
from fastapi.testclient import TestClient

import funnelkit as fk
from funnelkit.seeds.pipelines import ROOFING


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MSK = timezone(timedelta(hours=3), "MSK")
ANNA = {"X-Actor": "anna", "X-Roles": "manager"}  # headers are ASCII


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    clock = fk.FixedClock(datetime(2026, 4, 1, 9, 0, tzinfo=MSK))
    app = create_app(f"sqlite:///{tmp_path / 'crm.db'}", clock=clock, ids=fk.SequentialIds())
    with TestClient(app) as made:
        yield made
    app.state.store.engine.dispose()


def _request(client: TestClient, **body: Any) -> dict[str, Any]:
    sent = {"name": "Алмаз", "phone": "8 (912) 345-67-89", "message": "Нужна кровля, 120 м²"}
    response = client.post("/requests", json={**sent, **body}, headers=ANNA)
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def test_a_request_comes_in_becomes_a_deal_and_moves(client: TestClient):
    taken = _request(client)
    assert (taken["verdict"], taken["created_contact"]) == ("good", True)
    converted = client.post(f"/leads/{taken['lead']['id']}/convert", headers=ANNA)
    assert converted.status_code == 201, converted.text
    deal = converted.json()["deal"]
    assert (deal["pipeline"], deal["stage"]) == (ROOFING.key, ROOFING.first_stage.key)
    second = ROOFING.stages[1].key
    refused = client.post(f"/deals/{deal['id']}/move", json={"to_stage": second}, headers=ANNA)
    assert refused.status_code == 409  # the stage needs the product and the client's type
    assert {v["field"] for v in refused.json()["violations"]} == {"product", "client_type"}
    fields = {"product": "КРОВЛЯ", "client_type": "частник", "houses": 2}
    filled = client.patch(f"/deals/{deal['id']}", json={"fields": fields}, headers=ANNA)
    assert filled.status_code == 200, filled.text
    moved = client.post(f"/deals/{deal['id']}/move", json={"to_stage": second}, headers=ANNA)
    assert moved.status_code == 200, moved.text
    assert moved.json()["deal"]["stage"] == second
    bad = client.patch(f"/deals/{deal['id']}", json={"fields": {"houses": 1.5}}, headers=ANNA)
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid")
    assert "houses" in bad.json()["message"]


def test_a_refused_move_comes_back_as_409_with_its_violations(client: TestClient):
    taken = _request(client)
    deal = client.post(f"/leads/{taken['lead']['id']}/convert", headers=ANNA).json()["deal"]
    won = next(stage.key for stage in ROOFING.stages if stage.kind is fk.StageKind.WON)
    refused = client.post(f"/deals/{deal['id']}/move", json={"to_stage": won}, headers=ANNA)
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "move_refused"
    assert body["violations"]
    assert all({"rule", "message"} <= set(v) for v in body["violations"])
    assert won not in body["allowed"]
    assert client.get(f"/deals/{deal['id']}/move").status_code == 405  # a POST only


def test_spam_is_junk_and_unknown_ids_are_404(client: TestClient):
    assert _request(client, message="Раскрутка сайтов недорого")["verdict"] == "junk"
    missing = client.post("/leads/Л-404/convert", headers=ANNA)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    cut_emoji = b'{"name": "\\ud83d", "phone": "+79123456789"}'  # a lone surrogate, escaped
    headers = {**ANNA, "Content-Type": "application/json"}
    bad = client.post("/requests", content=cut_emoji, headers=headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "ContactData.name")


def test_the_agenda_and_the_funnel_report(client: TestClient):
    taken = _request(client)
    client.post(f"/leads/{taken['lead']['id']}/convert", headers=ANNA)
    agenda = client.get("/managers/anna/agenda", params={"day": "2026-04-01"})
    assert agenda.status_code == 200
    assert agenda.json()["agenda"]["items"], agenda.text
    report = client.get("/reports/funnel").json()
    assert report["pipeline"] == ROOFING.key
    assert report["rows"][0]["stage"] == ROOFING.first_stage.key
    assert report["rows"][0]["reached"] == 1
