"""API keys: `Authorization: Bearer <key>` on every route but the open ones.

A key of `api-keys` may do anything; a key of `api-read-keys` may only read
(GET and HEAD), and any other method answers 403. Keys are compared in constant
time, each of them every time, so neither the match nor its position leaks
through timing.
"""

import hashlib
import hmac

import falcon

from api import console
from app.audit import ANONYMOUS

# Health and readiness must answer a load balancer or an orchestrator that holds
# no key, and metrics a Prometheus; none of them, nor the API's description, holds
# anything about a job. Nor does the console's shell: its own API calls send a key.
OPEN_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json"}) | console.OPEN_PATHS
READING = frozenset({"GET", "HEAD"})


class RequireApiKey:
    def __init__(self, keys: tuple[str, ...], read_keys: tuple[str, ...] = ()):
        self.keys = tuple((key.encode(), "write") for key in keys) + tuple(
            (key.encode(), "read") for key in read_keys
        )

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Refuse a request without a valid key (401), or one whose key may only
        read and that would change something (403); tell the resource what the
        key may do (`req.context.access`: "read" or "write") and whose key it is
        (`req.context.key_digest`: the key's SHA-256, or "anonymous")."""
        req.context.access = "write"
        req.context.key_digest = ANONYMOUS
        if not self.keys or req.path in OPEN_PATHS:
            return
        scheme, _, given = (req.get_header("Authorization") or "").partition(" ")
        presented = given.strip().encode()
        access = None
        for key, may in self.keys:
            if hmac.compare_digest(presented, key):
                access = may
        if scheme.lower() != "bearer" or access is None:
            raise falcon.HTTPUnauthorized(
                description="a valid API key is required: Authorization: Bearer <key>",
                challenges=['Bearer realm="scheduler"'],
            )
        if access == "read" and req.method not in READING:
            raise falcon.HTTPForbidden(
                description=f"this API key may only read (GET); {req.method} {req.path} "
                "needs a key of SCHEDULER_API_KEYS"
            )
        req.context.access = access
        req.context.key_digest = hashlib.sha256(presented).hexdigest()


class AccessResource:
    """GET /v1/access: what the key presented may do, for the console to offer
    only what it can."""

    def on_get(self, req, resp):
        resp.media = {"access": req.context.access}
