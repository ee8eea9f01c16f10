"""moto 5.2.5 gaps in Cognito, filled in this process's backends (moto's files are untouched).

- TagResource, UntagResource, ListTagsForResource, UpdateResourceServer and DeleteResourceServer are
  not implemented (HTTP 500). Tags are kept where moto keeps the create-time ones (`UserPoolTags` in
  the pool's stored configuration).
- UpdateUserPool replaces the stored configuration with the request, dropping what only
  CreateUserPool takes (UsernameAttributes) and the tags; here they are kept when the request does not
  carry them, as AWS does.
- DeleteUserPool ignores DeletionProtection and a configured domain (and leaves the domain behind);
  here both are refused, as AWS does.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.cognitoidp.exceptions import InvalidParameterException, ResourceNotFoundError
from moto.cognitoidp.models import CognitoIdpBackend
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.responses import ActionResult, EmptyResult

_LOCK = threading.Lock()
_INSTALLED = threading.Event()

# Settings only CreateUserPool takes, which UpdateUserPool must not lose.
CREATE_ONLY = ("UsernameAttributes", "AliasAttributes", "UsernameConfiguration", "UserPoolTags")


def _pool_by_arn(backend: CognitoIdpBackend, arn: str) -> Any:
    for pool in backend.user_pools.values():
        if pool.arn == arn:
            return pool
    raise ResourceNotFoundError(f"{arn} does not exist")


def _tag_resource(self: CognitoIdpResponse) -> ActionResult:
    pool = _pool_by_arn(self.backend, self._get_param("ResourceArn"))
    tags = dict(pool.extended_config.get("UserPoolTags") or {})
    tags.update(self._get_param("Tags") or {})
    pool.extended_config["UserPoolTags"] = tags
    return EmptyResult()


def _untag_resource(self: CognitoIdpResponse) -> ActionResult:
    pool = _pool_by_arn(self.backend, self._get_param("ResourceArn"))
    removed = set(self._get_param("TagKeys") or [])
    tags = {k: v for k, v in (pool.extended_config.get("UserPoolTags") or {}).items() if k not in removed}
    pool.extended_config["UserPoolTags"] = tags
    return EmptyResult()


def _list_tags_for_resource(self: CognitoIdpResponse) -> ActionResult:
    pool = _pool_by_arn(self.backend, self._get_param("ResourceArn"))
    return ActionResult({"Tags": dict(pool.extended_config.get("UserPoolTags") or {})})


def _update_resource_server(self: CognitoIdpResponse) -> ActionResult:
    server = self.backend.describe_resource_server(self._get_param("UserPoolId"), self._get_param("Identifier"))
    server.name = self._get_param("Name")
    server.scopes = self._get_param("Scopes") or []
    return ActionResult({"ResourceServer": server.to_json()})


def _delete_resource_server(self: CognitoIdpResponse) -> ActionResult:
    pool = self.backend.describe_user_pool(self._get_param("UserPoolId"))
    identifier = self._get_param("Identifier")
    if identifier not in pool.resource_servers:
        raise ResourceNotFoundError(f"Resource server {identifier} does not exist.")
    del pool.resource_servers[identifier]
    return EmptyResult()


_moto_update_user_pool = CognitoIdpBackend.update_user_pool
_moto_delete_user_pool = CognitoIdpBackend.delete_user_pool


def _update_user_pool(self: CognitoIdpBackend, user_pool_id: str, extended_config: dict[str, Any]) -> None:
    pool = self.describe_user_pool(user_pool_id)
    kept = {k: pool.extended_config[k] for k in CREATE_ONLY if k in pool.extended_config}
    _moto_update_user_pool(self, user_pool_id, {**kept, **extended_config})


def _delete_user_pool(self: CognitoIdpBackend, user_pool_id: str) -> None:
    pool = self.describe_user_pool(user_pool_id)
    if pool.extended_config.get("DeletionProtection") == "ACTIVE":
        raise InvalidParameterException("The user pool cannot be deleted because deletion protection is active.")
    if pool.domain is not None:
        raise InvalidParameterException("User pool cannot be deleted. It has a domain configured.")
    _moto_delete_user_pool(self, user_pool_id)


def install_cognito_gaps() -> None:
    """Patch moto (in this process); calling it again changes nothing."""
    with _LOCK:
        if _INSTALLED.is_set():
            return
        CognitoIdpResponse.tag_resource = _tag_resource  # type: ignore[attr-defined]
        CognitoIdpResponse.untag_resource = _untag_resource  # type: ignore[attr-defined]
        CognitoIdpResponse.list_tags_for_resource = _list_tags_for_resource  # type: ignore[attr-defined]
        CognitoIdpResponse.update_resource_server = _update_resource_server  # type: ignore[attr-defined]
        CognitoIdpResponse.delete_resource_server = _delete_resource_server  # type: ignore[attr-defined]
        CognitoIdpBackend.update_user_pool = _update_user_pool  # type: ignore[method-assign]
        CognitoIdpBackend.delete_user_pool = _delete_user_pool  # type: ignore[method-assign]
        _INSTALLED.set()
