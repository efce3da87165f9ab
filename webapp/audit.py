"""The audit log: who did what as an admin, kept even after the admin's account is gone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.extensions import db
from webapp.models import User, UTCDateTime, utcnow

RECENT = 50  # entries the admin page shows


class AuditEntry(db.Model):
    """One admin action: who, when, what, on which row, and any detail worth keeping."""

    __table_args__ = (sa.Index("ix_audit_entry_at", "at", "id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    actor_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    # The name at the time, so the log still reads after the account is deleted or renamed.
    actor_name: so.Mapped[str] = so.mapped_column(sa.String(60))
    action: so.Mapped[str] = so.mapped_column(sa.String(60))
    target_type: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    target_id: so.Mapped[int | None]
    detail: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)

    actor: so.Mapped[User | None] = so.relationship()

    @property
    def detail_text(self) -> str:
        """Write the detail as "key: value" pairs, sorted by key, for the admins' log."""
        pairs = sorted((self.detail or {}).items(), key=lambda pair: pair[0].lower())
        return ", ".join(f"{key}: {value}" for key, value in pairs)

    def __repr__(self) -> str:
        """Show the action and target when debugging."""
        return f"<AuditEntry {self.action} {self.target_type}:{self.target_id}>"


def record(
    actor: User | None,
    action: str,
    target: Any = None,
    *,
    actor_name: str | None = None,
    **detail: Any,
) -> AuditEntry:
    """Add an entry for an action on a row (or on nothing); the caller commits.

    :param actor: who did it; None for the command line, with no account behind it.
    :param actor_name: how to name an actor without an account.
    """
    name = actor.username if actor is not None else actor_name or "command line"
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        actor_name=name[:60],
        action=action,
        target_type=target.__tablename__ if target is not None else None,
        target_id=target.id if target is not None else None,
        detail=detail or None,
    )
    db.session.add(entry)
    return entry


def recent(limit: int = RECENT) -> list[AuditEntry]:
    """List the newest entries first."""
    return list(
        db.session.scalars(
            sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        )
    )
