"""API keys: `Authorization: Bearer <key>` on every route but the open ones.

Keys are compared in constant time, each of them every time, so neither the
match nor its position leaks through timing.
"""

import hmac

import falcon

# Liveness must answer a load balancer that holds no key; the API's description
# holds nothing secret.
OPEN_PATHS = frozenset({"/health", "/openapi.json"})


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
