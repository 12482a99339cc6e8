"""Companies and API keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import generate_api_key, hash_api_key, shown_prefix
from firehook.context import context_of
from firehook.ids import is_uuid, new_id
from firehook.store import accounts
from gateway.access import authenticate, load_company, permissions_of, require_board
from gateway.http import JSONResponse, model_response, parse_body, validate
from gateway.routing import Api, QueryParam, links_to
from schemas.common import Role
from schemas.companies import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyListQuery,
    Company,
    CompanyCreate,
    Me,
)
from schemas.errors import Forbidden, NotFound

api = Api()


@api.operation(
    "POST",
    "/api/companies",
    "Create a company (admin keys only)",
    "companies",
    request=CompanyCreate,
    response=Company,
    status=201,
    errors=(400, 401, 403),
    links=links_to(
        "companyId",
        "/id",
        "get_company",
        "create_api_key",
        "list_api_keys",
        "create_routine",
        "list_routines",
    ),
)
async def create_company(request: Request) -> Response:
    principal = await authenticate(request)
    if principal.role is not Role.ADMIN:
        raise Forbidden("only admin keys create companies")
    body = await parse_body(request, CompanyCreate)
    ctx = context_of(request)
    company_id, now = new_id(), ctx.clock()
    async with ctx.db.write() as conn:
        await accounts.insert_company(conn, id=company_id, name=body.name, now=now)
    return model_response(Company(id=company_id, name=body.name, created_at=now), 201)


@api.operation(
    "GET",
    "/api/me",
    "The key this request carries: whom it stands for and what it may do",
    "companies",
    response=Me,
    errors=(401,),
    description="What the key may do, by the same rules the API enforces, so that a client "
    "offers only that: `manageRoutines` is `all`, or `assigned` (only routines whose "
    "assigneeAgentId is the key's agentId); a key bound to a collection has none of the "
    "company-wide views (chains, the event stream, statistics, the key list). "
    "See docs/permissions.md.",
)
async def get_me(request: Request) -> Response:
    principal = await authenticate(request)
    return model_response(
        Me(
            key_id=principal.key_id,
            role=principal.role,
            company_id=principal.company_id,
            agent_id=principal.agent_id,
            collection=principal.collection,
            permissions=permissions_of(principal),
        )
    )


@api.operation("GET", "/api/companies/{companyId}", "Get a company", "companies", response=Company)
async def get_company(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        row = await load_company(
            conn, principal, request.path_params["companyId"], collection_scoped=True
        )
    return model_response(Company.model_validate(dict(row)))


@api.operation(
    "POST",
    "/api/companies/{companyId}/api-keys",
    "Create an API key (shown once)",
    "companies",
    request=ApiKeyCreate,
    response=ApiKeyCreated,
    status=201,
    errors=(400, 401, 403, 404),
    links=links_to("keyId", "/id", "revoke_api_key"),
)
async def create_api_key(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(
            conn, principal, request.path_params["companyId"], collection_scoped=True
        )
    require_board(principal)
    body = await parse_body(request, ApiKeyCreate)
    collection = body.collection if body.collection is not None else principal.collection
    if principal.collection is not None and collection != principal.collection:
        raise Forbidden("a key bound to a collection creates keys bound to the same collection")
    key, key_id, now = generate_api_key(), new_id(), ctx.clock()
    async with ctx.db.write() as conn:
        await accounts.insert_api_key(
            conn,
            id=key_id,
            company_id=company["id"],
            role=body.role.value,
            agent_id=body.agent_id,
            name=body.name,
            key_hash=hash_api_key(key),
            prefix=shown_prefix(key),
            now=now,
            collection=collection,
        )
    created = ApiKeyCreated(
        id=key_id,
        key=key,
        role=body.role,
        company_id=company["id"],
        agent_id=body.agent_id,
        name=body.name,
        collection=collection,
        created_at=now,
    )
    return model_response(created, 201)


@api.operation(
    "GET",
    "/api/companies/{companyId}/api-keys",
    "List the company's API keys (never the keys themselves)",
    "companies",
    response=list[ApiKey],
    query=(
        QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        QueryParam("offset", {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0}),
    ),
    errors=(400, 401, 403, 404),
)
async def list_api_keys(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
        require_board(principal)
        query = validate(ApiKeyListQuery, dict(request.query_params))
        rows, total = await accounts.list_api_keys(
            conn, company["id"], limit=query.limit, offset=query.offset
        )
    return JSONResponse(
        [ApiKey.model_validate(dict(row)).model_dump(mode="json") for row in rows],
        headers={"X-Total-Count": str(total)},
    )


@api.operation(
    "DELETE",
    "/api/api-keys/{keyId}",
    "Revoke an API key: refused from then on, kept in the listing",
    "companies",
    response=ApiKey,
    errors=(401, 403, 404),
)
async def revoke_api_key(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    key_id = request.path_params["keyId"]
    async with ctx.db.write() as conn:
        row = await accounts.get_api_key(conn, key_id) if is_uuid(key_id) else None
        visible = row is not None and (
            principal.role is Role.ADMIN
            or (row["company_id"] is not None and row["company_id"] == principal.company_id)
        )
        if row is None or not visible:
            raise NotFound("API key not found")
        require_board(principal)
        await accounts.revoke_api_key(conn, key_id, ctx.clock())
        row = await accounts.get_api_key(conn, key_id)
    assert row is not None
    return model_response(ApiKey.model_validate(dict(row)))
