"""Reservations: launch requests waiting for a busy deployment, started oldest first when it frees
(``lifecycle.fulfil``); their owner lists and cancels them."""

from __future__ import annotations

import builtins

from fleetport.core.errors import NotFound
from fleetport.core.ids import is_uuid
from fleetport.core.permissions import Principal
from fleetport.core.remote.model import Reservation
from fleetport.store import Store
from fleetport.store import remote as rq

NO_RESERVATION = "reservation not found"


class Reservations:
    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, p: Principal) -> builtins.list[Reservation]:
        """The caller's waiting reservations, oldest first."""
        with self.store.read() as conn:
            return [Reservation.from_row(r) for r in rq.reservations_of(conn, p.id)]

    def cancel(self, p: Principal, reservation_id: str) -> None:
        with self.store.write() as conn:
            found = rq.reservation(conn, reservation_id.lower()) if is_uuid(reservation_id) else None
            if found is None or (found["requested_by"] != p.id and not p.is_admin):
                raise NotFound(NO_RESERVATION)
            rq.delete_reservation(conn, found["id"])
