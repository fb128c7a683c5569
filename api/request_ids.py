"""X-Request-Id: every answer carries one, the client's own if it sent a sane
one, so that a client's logs and ours can be matched on it."""

import re
import uuid

import falcon

HEADER = "X-Request-Id"
# What a client's id may be: short, and nothing a log or a header could choke on.
_SANE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id(given: str | None) -> str:
    """The client's id if it is sane, else a fresh one."""
    if given is not None and _SANE.match(given):
        return given
    return uuid.uuid4().hex


class TagRequests:
    """Give each request its id (req.context.request_id) and each answer the header,
    errors too."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = request_id(req.get_header(HEADER))
        resp.set_header(HEADER, req.context.request_id)
