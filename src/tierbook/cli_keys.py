"""`tierbook keys`: create, list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperGroup

from tierbook import cli_render as render
from tierbook.cli_common import AsJson, Tenant, err, opened, out
from tierbook.domain.errors import NotFound
from tierbook.service import auth

app = typer.Typer(cls=TyperGroup, help="API keys: create, list, revoke.", no_args_is_help=True)


@app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", "-n", help="What the key is for.")],
    tenant: Tenant = "default",
    scopes: Annotated[
        str,
        typer.Option(help="Comma-separated: read, write, admin (each includes the ones before)."),
    ] = "read,write",
) -> None:
    """Create a key; prints ID.SECRET alone on the last line (shown only this once)."""
    wanted = auth.parse_scopes(scopes)
    with opened() as container, container.uow_factory() as uow:
        key, token = auth.create_key(
            uow, container.clock, tenant_id=tenant, name=name, scopes=wanted
        )
        uow.commit()
    err.print(
        f"created key {key.id} ({key.name!r}) for tenant {key.tenant_id} with scopes "
        f"{','.join(sorted(key.scopes))}; the secret is shown only now:",
        markup=False,
    )
    typer.echo(token)


@app.command("list")
def keys_list(
    tenant: Tenant = "default",
    all_tenants: Annotated[bool, typer.Option("--all", help="Keys of every tenant.")] = False,
    as_json: AsJson = False,
) -> None:
    """List keys (never their secrets)."""
    with opened() as container, container.uow_factory(write=False) as uow:
        keys = uow.keys.list(None if all_tenants else tenant)
    if as_json:
        out.print_json(
            data=[
                {
                    "id": k.id,
                    "tenant_id": k.tenant_id,
                    "name": k.name,
                    "scopes": sorted(k.scopes),
                    "created_at": render.rfc3339(k.created_at),
                    "revoked_at": render.rfc3339(k.revoked_at),
                }
                for k in keys
            ]
        )
        return
    if not keys:
        out.print(f"no keys{'' if all_tenants else f' in tenant {tenant}'}", markup=False)
        return
    out.print(render.keys_table(keys))


@app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's ID (before the dot).")],
) -> None:
    """Revoke a key at once (a running server stops accepting it within seconds)."""
    key_id = key_id.partition(".")[0]
    with opened() as container, container.uow_factory() as uow:
        if not uow.keys.revoke(key_id, container.clock.now()):
            known = uow.keys.get(key_id)
            raise NotFound(f"key {key_id} is already revoked" if known else f"no key {key_id}")
        uow.commit()
    out.print(f"revoked {key_id}", markup=False)
