"""Who is signed in, and what they may see: every route asks here, nowhere else.

Every view needs a signed-in person unless it is marked ``@public`` (the sign-in pages, the
webhook endpoint, ``/healthz``): a new route is closed until someone decides otherwise.
Within a view, ``require(action, connection)`` answers the question of ``domain.access``;
whatever a person may not see answers 404, exactly like what does not exist, so an id in a URL
tells nobody whether another merchant's document is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from uuid import UUID

from flask import abort, current_app, jsonify, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user

from domain import access
from domain.access import Action
from domain.users import User


@dataclass(frozen=True)
class Person(UserMixin):
    """The signed-in person, as Flask-Login keeps them for one request."""

    user_id: UUID
    email: str
    role: str
    granted: frozenset[UUID]
    fingerprint: str

    def get_id(self) -> str:
        # The password's fingerprint rides in the session: a new password signs out every
        # session made with the old one.
        return f"{self.user_id}.{self.fingerprint}"

    def may(self, action: Action, connection_id: UUID | str | None = None) -> bool:
        if connection_id is not None and not isinstance(connection_id, UUID):
            try:
                connection_id = UUID(str(connection_id))
            except ValueError:
                return False
        return access.may(self.role, self.granted, action, connection_id)

    def scope(self, action: Action = Action.VIEW) -> list[str] | None:
        """The connection ids this person may see (None: every connection)."""
        if access.sees_every_connection(self.role):
            return None
        return [str(c) for c in sorted(self.granted) if self.may(action, c)]


def person_of(user: User, fingerprint: str) -> Person:
    return Person(user.id, user.email, user.role, frozenset(user.connections), fingerprint)


def _accounts():
    return current_app.extensions["koppel"].accounts


def _load(session_id: str) -> Person | None:
    uid, _, fingerprint = session_id.partition(".")
    try:
        user = _accounts().get(UUID(uid))
    except ValueError:
        return None
    if user is None or _accounts().fingerprint(user) != fingerprint:
        return None
    return person_of(user, fingerprint)


def public(view):
    """Marks a view that anyone may reach without signing in."""
    view.koppel_public = True
    return view


def _require_sign_in():
    if request.endpoint == "static":  # koppel's own stylesheet and script: no data in them
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "koppel_public", False) or current_user.is_authenticated:
        return None
    if request.path.startswith("/api/"):
        response = jsonify({"error": "sign in first"})
        response.status_code = 401
        return response
    return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


def init_app(app) -> None:
    manager = LoginManager(app)
    manager.user_loader(_load)
    manager.session_protection = "strong"
    app.before_request(_require_sign_in)


# -- what views ask --------------------------------------------------------------------------

def me() -> Person:
    return current_user._get_current_object()


def require(action: Action, connection_id: UUID | str | None = None) -> None:
    """Stop here with 404 unless the signed-in person may do ``action`` (on the connection)."""
    if not current_user.is_authenticated or not me().may(action, connection_id):
        abort(404)


def requires(action: Action):
    """A view for an action on no connection (the accounts pages)."""
    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            require(action)
            return view(*args, **kwargs)
        return checked
    return decorate


def scope(action: Action = Action.VIEW) -> list[str] | None:
    return me().scope(action)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site (never //elsewhere), so a link cannot send anyone away."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
