"""Chains: create, list, get, delete DAGs over a company's routines (seed 003)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from firehook.auth import Principal
from firehook.context import Context, context_of
from firehook.ids import is_uuid, new_id
from firehook.store import chains as store
from gateway.access import authenticate, load_company, require_board
from gateway.http import model_response, parse_body, validate
from gateway.routing import Api, QueryParam
from schemas.chains import Chain, ChainCreate, ChainEdge, ChainList, ChainListQuery, find_cycle
from schemas.common import Role, RoutineStatus
from schemas.errors import NotFound, ValidationFailed

api = Api()


def chain_view(row: RowMapping, edges: Sequence[RowMapping]) -> Chain:
    return Chain(
        id=row["id"],
        company_id=row["company_id"],
        name=row["name"],
        description=row["description"],
        routines=list(row["routine_ids"]),
        edges=[
            ChainEdge.model_validate(
                {
                    "id": edge["id"],
                    "from": edge["from_routine_id"],
                    "to": edge["to_routine_id"],
                    "type": edge["type"],
                }
            )
            for edge in edges
        ],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def load_chain(conn: AsyncConnection, principal: Principal, chain_id: str) -> RowMapping:
    chain = await store.get_chain(conn, chain_id) if is_uuid(chain_id) else None
    if (
        chain is None
        or principal.collection is not None  # chains span collections
        or (principal.role is not Role.ADMIN and principal.company_id != chain["company_id"])
    ):
        raise NotFound("chain not found")
    return chain


async def _check_routines(conn: AsyncConnection, company_id: str, routine_ids: list[str]) -> None:
    found = await store.company_routines(conn, company_id, routine_ids)
    missing = [r for r in routine_ids if r not in found]
    if missing:
        raise ValidationFailed(
            f"routines not found: {', '.join(missing)}", {"routines": {"notFound": missing}}
        )
    archived = [r for r in routine_ids if found[r]["status"] == RoutineStatus.ARCHIVED]
    if archived:
        raise ValidationFailed(
            f"routines are archived: {', '.join(archived)}", {"routines": {"archived": archived}}
        )


async def _check_acyclic(conn: AsyncConnection, company_id: str, body: ChainCreate) -> None:
    # Successors fire along every chain's edges alike, so a loop through two chains
    # would fire forever just as one inside a chain: the company's edges together
    # must stay acyclic.
    existing = await store.company_edges(conn, company_id)
    new = [(edge.from_routine, edge.to) for edge in body.edges]
    cycle = find_cycle([*((s, t) for s, t, _ in existing), *new])
    if cycle is None:
        return
    pairs = set(pairwise(cycle))
    other_chains = sorted({chain for s, t, chain in existing if (s, t) in pairs})
    path = " → ".join(cycle)
    message = f"chain has a cycle: {path}"
    if other_chains:
        message += f" (through chain {', '.join(other_chains)})"
    raise ValidationFailed(message, {"edges": message, "cycle": cycle})


@api.operation(
    "POST",
    "/api/companies/{companyId}/chains",
    "Create a chain",
    "chains",
    request=ChainCreate,
    response=Chain,
    status=201,
    errors=(400, 401, 403, 404),
)
async def create_chain(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
    # A chain fires routines on others' behalf, whoever they are assigned to.
    require_board(principal)
    body = await parse_body(request, ChainCreate)
    async with ctx.db.write() as conn:
        chain = await add_chain(conn, ctx, company["id"], body)
    return model_response(chain, 201)


async def add_chain(
    conn: AsyncConnection, ctx: Context, company_id: str, body: ChainCreate
) -> Chain:
    """Insert a chain over the company's routines, refusing unknown or archived routines and
    any cycle through the company's chains."""
    now, chain_id = ctx.clock(), new_id()
    routine_ids = body.routine_ids()
    values = {
        "id": chain_id,
        "company_id": company_id,
        "name": body.name,
        "description": body.description,
        "routine_ids": routine_ids,
        "created_at": now,
        "updated_at": now,
    }
    edges = [
        {
            "id": new_id(),
            "chain_id": chain_id,
            "company_id": company_id,
            "from_routine_id": edge.from_routine,
            "to_routine_id": edge.to,
            "type": edge.type.value,
            "position": position,
            "created_at": now,
        }
        for position, edge in enumerate(body.edges)
    ]
    await store.lock_company_chains(conn, company_id)
    await _check_routines(conn, company_id, routine_ids)
    await _check_acyclic(conn, company_id, body)
    await store.insert_chain(conn, values, edges)
    row = await store.get_chain(conn, chain_id)
    stored = await store.edges_of_chains(conn, [chain_id])
    assert row is not None
    return chain_view(row, stored[chain_id])


@api.operation(
    "GET",
    "/api/companies/{companyId}/chains",
    "List chains",
    "chains",
    response=ChainList,
    query=(
        QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        QueryParam("offset", {"type": "integer", "minimum": 0, "default": 0}),
    ),
)
async def list_chains(request: Request) -> Response:
    principal = await authenticate(request)
    query = validate(ChainListQuery, dict(request.query_params))
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        company = await load_company(conn, principal, request.path_params["companyId"])
        rows, total = await store.list_chains(
            conn, company["id"], limit=query.limit, offset=query.offset
        )
        edges = await store.edges_of_chains(conn, [row["id"] for row in rows])
    page = ChainList(
        data=[chain_view(row, edges[row["id"]]) for row in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )
    return model_response(page)


@api.operation("GET", "/api/chains/{chainId}", "Get a chain", "chains", response=Chain)
async def get_chain(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.read() as conn:
        chain = await load_chain(conn, principal, request.path_params["chainId"])
        edges = await store.edges_of_chains(conn, [chain["id"]])
    return model_response(chain_view(chain, edges[chain["id"]]))


@api.operation(
    "DELETE",
    "/api/chains/{chainId}",
    "Delete a chain (runs already fired are kept)",
    "chains",
    status=204,
    errors=(401, 403, 404),
)
async def delete_chain(request: Request) -> Response:
    principal = await authenticate(request)
    ctx = context_of(request)
    async with ctx.db.write() as conn:
        chain = await load_chain(conn, principal, request.path_params["chainId"])
        require_board(principal)
        await store.delete_chain(conn, chain["id"])
    return Response(status_code=204)
