"""The few Kubernetes reads the handlers make beside kopf's own: login and credential Secrets."""

from __future__ import annotations

import base64
import os
from typing import Any

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod, the service account; elsewhere the kubeconfig that KUBECONFIG names *now*.

    kopf's client-library login reads KUBECONFIG when the library is imported, which breaks
    embedded runs (the demo, the tests) that point it at an emulator afterwards.
    """
    if os.path.exists(SERVICE_ACCOUNT_TOKEN):
        return kopf.login_with_service_account(**kwargs)
    return kopf.login_with_kubeconfig(**kwargs)


def _core_api() -> client.CoreV1Api:
    if os.path.exists(SERVICE_ACCOUNT_TOKEN):
        config.load_incluster_config()
        return client.CoreV1Api()
    api_client = config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))
    return client.CoreV1Api(api_client)


def read_secret(namespace: str, name: str) -> dict[str, str] | None:
    """The Secret's data decoded, or None when it does not exist. Blocking: call in a thread."""
    try:
        secret = _core_api().read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
