"""API keys: `Authorization: Bearer <key>` on every route but the open ones.

Keys are compared in constant time, each of them every time, so neither the
match nor its position leaks through timing.
"""

import hmac

import falcon

from api import console

# Health and readiness must answer a load balancer or an orchestrator that holds
# no key, and metrics a Prometheus; none of them, nor the API's description, holds
# anything about a job. Nor does the console's shell: its own API calls send a key.
OPEN_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json"}) | console.OPEN_PATHS


class RequireApiKey:
    def __init__(self, keys: tuple[str, ...]):
        self.keys = tuple(key.encode() for key in keys)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.keys or req.path in OPEN_PATHS:
            return
        scheme, _, given = (req.get_header("Authorization") or "").partition(" ")
        presented = given.strip().encode()
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(presented, key)
        if scheme.lower() != "bearer" or not matched:
            raise falcon.HTTPUnauthorized(
                description="a valid API key is required: Authorization: Bearer <key>",
                challenges=['Bearer realm="scheduler"'],
            )
