"""Companies and API keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import generate_api_key, hash_api_key
from firehook.context import context_of
from firehook.ids import new_id
from firehook.store import accounts
from gateway.access import authenticate, load_company, require_board
from gateway.http import model_response, parse_body
from gateway.routing import Api
from schemas.common import Role
from schemas.companies import ApiKeyCreate, ApiKeyCreated, Company, CompanyCreate
from schemas.errors import Forbidden

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
