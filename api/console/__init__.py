"""The web console: one static page (HTML, a script, a stylesheet) over the JSON API.

The files ship inside the package, so a wheel install serves them with nothing
else to fetch. They are open paths: the shell holds no data, and every API call
the page makes carries the operator's key.
"""

from importlib import resources

import falcon

HOME = "/ui"
# Path -> (file in this package, content type).
ASSETS = {
    HOME: ("index.html", "text/html; charset=utf-8"),
    "/ui/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/ui/editor.js": ("editor.js", "text/javascript; charset=utf-8"),
    "/ui/console.css": ("console.css", "text/css; charset=utf-8"),
}
# What a browser may load without a key: exact paths, so no other route slips in.
OPEN_PATHS = frozenset({"/", *ASSETS})
# The page runs only its own script and talks only to its own origin: an injected
# inline script or a third-party asset is refused by the browser.
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class _Asset:
    def __init__(self, name: str, content_type: str):
        self.body = resources.files(__name__).joinpath(name).read_bytes()
        self.content_type = content_type

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self.body
        resp.content_type = self.content_type
        resp.cache_control = ["no-cache"]  # a new version shows on the next load
        resp.set_header("Content-Security-Policy", _POLICY)
        resp.set_header("X-Content-Type-Options", "nosniff")


class _Home:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPFound(HOME)


def install(app: falcon.App) -> None:
    app.add_route("/", _Home())
    for path, (name, content_type) in ASSETS.items():
        app.add_route(path, _Asset(name, content_type))
