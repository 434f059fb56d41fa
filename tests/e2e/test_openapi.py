"""The OpenAPI document lists SPEC §4's table, and every response matches its documented model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tests.e2e.conftest import Api
from tierbook.api.native import schemas as s
from tierbook.service.documents import ProgramDocument

TABLE = {
    ("put", "/v1/programs/{program_id}"),
    ("get", "/v1/programs"),
    ("get", "/v1/programs/{program_id}"),
    ("get", "/v1/programs/{program_id}/groups/{group_id}/tiers"),
    ("post", "/v1/members"),
    ("get", "/v1/members"),
    ("get", "/v1/members/{member_id}"),
    ("patch", "/v1/members/{member_id}"),
    ("post", "/v1/activities"),
    ("post", "/v1/activities:batch"),
    ("get", "/v1/members/{member_id}/tiers"),
    ("get", "/v1/members/{member_id}/tiers/{group_id}/history"),
    ("get", "/v1/members/{member_id}/tiers/{group_id}/explain"),
    ("post", "/v1/members/{member_id}/tiers/{group_id}/assign"),
    ("delete", "/v1/members/{member_id}/tiers/{group_id}/assign"),
    # SPEC §6: tier events delivered to registered webhooks.
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks"),
    ("delete", "/v1/webhooks/{webhook_id}"),
    ("get", "/v1/webhooks/{webhook_id}/deliveries"),
}


def test_the_openapi_document_has_every_row_of_the_table(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    operations = {
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith("/v1/")
        for method in item
    }
    assert operations == TABLE
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary") or operation.get("description"), (method, path)
            if (method, path) in TABLE:
                assert "401" in operation["responses"], (method, path)
    tiers = document["paths"]["/v1/members/{member_id}/tiers"]["get"]["responses"]["200"]
    assert tiers["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MemberTiersOut"
    }


def test_the_docs_page_is_served(api: Api) -> None:
    assert api.client.get("/docs").status_code == 200


def conforms(model: type[BaseModel], body: Any) -> None:
    model.model_validate(body, strict=False)


def test_every_response_matches_its_model(api: Api, member: dict[str, Any]) -> None:
    member_id = member["id"]
    conforms(s.MemberOut, member)
    conforms(s.MemberOut, api.get(f"/v1/members/{member_id}").json())
    conforms(s.MembersOut, api.get("/v1/members", params={"email": member["email"]}).json())
    conforms(s.MemberOut, api.patch(f"/v1/members/{member_id}", json={"household_id": "H1"}).json())
    conforms(s.ProgramsOut, api.get("/v1/programs").json())
    conforms(ProgramDocument, api.get("/v1/programs/123").json())
    conforms(s.GroupTiersOut, api.get("/v1/programs/123/groups/10/tiers").json())
    one = api.post(
        "/v1/activities",
        json={"member_id": member_id, "points": 1500, "items": [{"sku": "A", "amount": "1.5"}]},
    )
    conforms(s.ActivityOut, one.json())
    batch = api.post(
        "/v1/activities:batch", json={"entries": [{"member_id": member_id, "points": 1}]}
    )
    conforms(s.BatchOut, batch.json())
    assigned = api.post(
        f"/v1/members/{member_id}/tiers/10/assign",
        json={"tier": "gold", "mode": "lock", "until": "2026-01-01T00:00:00Z"},
    )
    conforms(s.AssignOut, assigned.json())
    conforms(s.MemberTiersOut, api.tiers(member_id))
    conforms(s.HistoryOut, api.get(f"/v1/members/{member_id}/tiers/10/history").json())
    conforms(s.ExplainOut, api.get(f"/v1/members/{member_id}/tiers/10/explain").json())
    conforms(s.EndAssignmentOut, api.delete(f"/v1/members/{member_id}/tiers/10/assign").json())
    conforms(s.ErrorOut, api.get("/v1/members/nobody").json())
    hook = api.post("/v1/webhooks", json={"url": "https://example.com/hook"}).json()
    conforms(s.WebhookCreatedOut, hook)
    conforms(s.WebhooksOut, api.get("/v1/webhooks").json())
    conforms(s.DeliveriesOut, api.get(f"/v1/webhooks/{hook['id']}/deliveries").json())
