"""The business's own answer under a post on its wall: publishing, editing and deleting it.

The verified owner or a manager writes one public reply per post; the customer's words stay
as they are. A reply to an open complaint marks it answered, as a reply on a network does.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import (
    REPLY_MAX,
    Business,
    BusinessReply,
    ComplaintStatus,
    Kind,
    Post,
    User,
    utcnow,
)
from webapp.services import owners


class Refused(Exception):
    """A reply that can't be written, with the reason in words for the person."""


def can_reply(business: Business, user: User | None) -> bool:
    """Tell whether this person speaks for the business on its wall: its owner or a manager."""
    return owners.can_manage(business, user)


def may_answer(business: Business, post: Post) -> bool:
    """Tell whether the post is one the business may answer on its wall: public and about it."""
    return post.business_id == business.id and post.is_public


def check_body(body: str) -> str:
    """Return the reply's text, or refuse an empty or overlong one."""
    if not body:
        raise Refused("Write your reply.")
    if len(body) > REPLY_MAX:
        raise Refused(f"Keep your reply under {REPLY_MAX} characters.")
    return body


def publish(business: Business, post: Post, author: User, body: str) -> BusinessReply:
    """Publish the business's reply under the post, or change the one already there.

    :raise Refused: when the post isn't on this wall, or the text is empty or too long.
    """
    if not may_answer(business, post):
        raise Refused("You can only answer public posts on your own wall.")
    body = check_body(body)
    reply = post.wall_reply
    if reply is None:
        reply = BusinessReply(post=post, business_id=business.id, author_id=author.id, body=body)
        db.session.add(reply)
        if post.kind == Kind.COMPLAINT and post.complaint_status == ComplaintStatus.OPEN:
            post.complaint_status = ComplaintStatus.REPLIED
        return reply
    if reply.body != body:
        reply.body = body
        reply.edited_at = utcnow()
        reply.seen_at = None
    return reply


def delete(post: Post) -> BusinessReply | None:
    """Take the business's reply off the post; return it, or None when there was none."""
    reply = post.wall_reply
    if reply is None:
        return None
    post.wall_reply = None
    # The complaint shows as answered only while an answer is there to read.
    if post.complaint_status == ComplaintStatus.REPLIED and post.business_reply is None:
        post.complaint_status = ComplaintStatus.OPEN
    return reply


def mark_seen(post: Post, reader: User | None) -> bool:
    """Note that the post's author has read the business's answer; tell whether it was new."""
    if reader is None or getattr(reader, "id", None) != post.author_id:
        return False
    reply = post.wall_reply
    if reply is None or not post.has_new_wall_reply:
        return False
    reply.seen_at = utcnow()
    return True
