"""The OpenAPI 3.1 document for the JSON API, kept beside the views it describes."""

from __future__ import annotations

from copy import deepcopy

from webapp.models import BODY_MAX
from webapp.services.api_tokens import PREFIX

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}
NULLABLE_DATETIME = {"type": ["string", "null"], "format": "date-time"}
URL = {"type": "string", "format": "uri"}

RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"$ref": "#/components/headers/X-RateLimit-Limit"},
    "X-RateLimit-Remaining": {"$ref": "#/components/headers/X-RateLimit-Remaining"},
    "X-RateLimit-Reset": {"$ref": "#/components/headers/X-RateLimit-Reset"},
    "Retry-After": {"$ref": "#/components/headers/Retry-After"},
}


def problem_response(description: str, schema: str = "Problem", **headers: dict) -> dict:
    """Describe an error answered as application/problem+json."""
    return {
        "description": description,
        "headers": RATE_LIMIT_HEADERS | headers,
        "content": {
            "application/problem+json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        },
    }


def json_response(description: str, schema: str, **headers: dict) -> dict:
    """Describe a successful JSON answer with its rate-limit headers."""
    return {
        "description": description,
        "headers": RATE_LIMIT_HEADERS | headers,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def with_links(response: dict, **links: dict) -> dict:
    """Add OpenAPI links: where a client can go next with what this answer holds."""
    return {**response, "links": links}


def link(operation_id: str, description: str, **parameters: str) -> dict:
    """Describe one link to another operation, its parameters as runtime expressions."""
    return {"operationId": operation_id, "parameters": parameters, "description": description}


POST_LINKS = {
    "GetPost": link("getPost", "Read the post back.", post_id="$response.body#/id"),
    "GetPostBusiness": link(
        "getBusiness", "The business it is about.", slug="$response.body#/business/slug"
    ),
    "ListPostBusinessPosts": link(
        "listBusinessPosts",
        "The business's other posts.",
        slug="$response.body#/business/slug",
    ),
}


def errors(*statuses: int) -> dict:
    """Reference the shared error responses for these statuses (400 and 429 always apply)."""
    return {
        str(status): {"$ref": f"#/components/responses/{status}"}
        for status in (400, 429, *statuses)
    }


def param(name: str, where: str, schema: dict, description: str, required: bool = False) -> dict:
    """Describe one parameter."""
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


CURSOR = param(
    "cursor",
    "query",
    {"type": "string", "maxLength": 200},
    "The previous page's `next_cursor`; none for the first page. A broken one is a 400.",
)
LIMIT = param(
    "limit", "query", {"type": "integer", "minimum": 1, "maximum": 50}, "How many posts per page."
)
SLUG = param(
    "slug", "path", {"type": "string", "minLength": 1, "maxLength": 140}, "The business's slug."
)

PROBLEM = {
    "type": "object",
    "description": "Problem details (RFC 9457).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "Always `about:blank`: the status says it all."},
        "title": {"type": "string", "description": "The HTTP status phrase."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong, in plain words."},
    },
}

VALIDATION_PROBLEM = deepcopy(PROBLEM)
VALIDATION_PROBLEM["required"].append("errors")
VALIDATION_PROBLEM["properties"]["errors"] = {
    "type": "object",
    "description": "Messages by field name; `new_business.name` names a field inside an object.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
}

BUSINESS = {
    "type": "object",
    "required": [
        "id",
        "name",
        "slug",
        "website",
        "handle",
        "bluesky_handle",
        "category",
        "url",
        "api_url",
    ],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "slug": {"type": "string"},
        "website": NULLABLE_STRING,
        "handle": {
            **NULLABLE_STRING,
            "description": "Its fediverse handle, like @support@brand.example.",
        },
        "bluesky_handle": {
            **NULLABLE_STRING,
            "description": "Its Bluesky handle, a domain name like brand.bsky.social.",
        },
        "category": NULLABLE_STRING,
        "url": {**URL, "description": "Its wall on the web."},
        "api_url": URL,
    },
}

NUMBERS = {
    "type": "object",
    "description": "The figures on the business's wall, counted from public posts.",
    "required": [
        "praise",
        "complaints",
        "resolved",
        "resolved_share",
        "median_days_to_resolve",
        "average_rating",
        "mentioned",
        "replied",
        "answered_on_wall",
        "reply_rate",
        "median_reply_seconds",
        "replied_by_network",
    ],
    "properties": {
        "praise": {"type": "integer", "minimum": 0},
        "complaints": {"type": "integer", "minimum": 0},
        "resolved": {"type": "integer", "minimum": 0},
        "resolved_share": {**NULLABLE_NUMBER, "description": "Null without complaints."},
        "median_days_to_resolve": NULLABLE_NUMBER,
        "average_rating": NULLABLE_NUMBER,
        "mentioned": {
            "type": "integer",
            "minimum": 0,
            "description": "Statuses sent to Mastodon or Bluesky that mentioned the business.",
        },
        "replied": {
            "type": "integer",
            "minimum": 0,
            "description": "How many of those it replied to, on either network.",
        },
        "answered_on_wall": {
            "type": "integer",
            "minimum": 0,
            "description": "Public posts it answered on its own wall.",
        },
        "reply_rate": {
            **NULLABLE_NUMBER,
            "description": (
                "The share of public posts it answered, on its wall or on Mastodon, of those "
                "whose status mentioned it or that it answered on its wall."
            ),
        },
        "median_reply_seconds": {
            **NULLABLE_NUMBER,
            "description": "Median time to each post's first answer, from either source.",
        },
        "replied_by_network": {
            "type": "object",
            "description": "Of `replied`, how many on each network, by its name.",
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
    },
}

BUSINESS_DETAIL = {
    "allOf": [
        {"$ref": "#/components/schemas/Business"},
        {
            "type": "object",
            "required": ["verified", "numbers", "posts_url"],
            "properties": {
                "verified": {
                    "type": "boolean",
                    "description": "The business has claimed its wall.",
                },
                "numbers": {"$ref": "#/components/schemas/Numbers"},
                "posts_url": URL,
            },
        },
    ]
}

POST = {
    "type": "object",
    "required": [
        "id",
        "kind",
        "url",
        "api_url",
        "business",
        "author",
        "author_url",
        "body",
        "rating",
        "channel",
        "happened_on",
        "created_at",
        "make_right",
        "complaint_status",
        "resolved_at",
        "resolution_note",
        "follows_up",
        "business_reply",
        "wall_reply",
    ],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": ["praise", "complaint"]},
        "url": {**URL, "description": "The post's page."},
        "api_url": URL,
        "business": {
            "type": "object",
            "required": ["id", "name", "slug", "api_url"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "slug": {"type": "string"},
                "api_url": URL,
            },
        },
        "author": {**NULLABLE_STRING, "description": "Null when posted as “a customer”."},
        "author_url": {"type": ["string", "null"], "format": "uri"},
        "body": {"type": "string"},
        "rating": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
        "channel": {"enum": ["in_person", "phone", "online", "social"]},
        "happened_on": {"type": "string", "format": "date"},
        "created_at": {"type": "string", "format": "date-time"},
        "make_right": {**NULLABLE_STRING, "description": "Complaints: what would make it right."},
        "complaint_status": {"enum": ["open", "replied", "resolved", None]},
        "resolved_at": NULLABLE_DATETIME,
        "resolution_note": NULLABLE_STRING,
        "follows_up": {
            "type": ["integer", "null"],
            "description": "The resolved complaint this praise follows up.",
        },
        "business_reply": {
            "type": ["object", "null"],
            "description": (
                "The business's first reply on a network. Its url is null on an anonymous post: "
                "the reply answers, and usually names, the author."
            ),
            "required": ["replied_at", "url", "network"],
            "properties": {
                "replied_at": NULLABLE_DATETIME,
                "url": NULLABLE_STRING,
                "network": {"enum": ["mastodon", "bluesky"]},
            },
        },
        "wall_reply": {
            "type": ["object", "null"],
            "description": "The business's answer under the post on its own wall.",
            "required": ["body", "created_at", "edited_at", "seconds_to_reply"],
            "properties": {
                "body": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "edited_at": NULLABLE_DATETIME,
                "seconds_to_reply": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How long after the post the business answered.",
                },
            },
        },
    },
}

CROSSPOST_PROPERTIES = {
    "state": {"enum": ["pending", "sent", "failed", "needs_login", "gave_up", "deleting", "gone"]},
    "url": NULLABLE_STRING,
    "error": NULLABLE_STRING,
}

OWN_POST = {
    "allOf": [
        {"$ref": "#/components/schemas/Post"},
        {
            "type": "object",
            "required": ["on_wall", "show_name", "crosspost", "crossposts", "tone_suggestions"],
            "properties": {
                "on_wall": {"type": "boolean"},
                "show_name": {"type": "boolean"},
                "crosspost": {
                    "type": ["object", "null"],
                    "description": "The status on your Mastodon account; sent in the background.",
                    "required": ["state", "url", "error"],
                    "properties": CROSSPOST_PROPERTIES,
                },
                "crossposts": {
                    "type": "array",
                    "description": "Its status on each network you post to, Mastodon or Bluesky.",
                    "items": {
                        "type": "object",
                        "required": ["network", "state", "url", "error"],
                        "properties": {
                            "network": {"enum": ["mastodon", "bluesky"]},
                            **CROSSPOST_PROPERTIES,
                        },
                    },
                },
                "tone_suggestions": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Complaints: calmer wording worth considering (never blocks).",
                },
            },
        },
    ]
}

POST_PAGE = {
    "type": "object",
    "required": ["items", "next_cursor", "next"],
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Post"}},
        "next_cursor": {**NULLABLE_STRING, "description": "Null on the last page."},
        "next": {"type": ["string", "null"], "format": "uri"},
    },
}

CHALLENGE = {
    "type": "object",
    "required": ["username", "url", "member_since", "goal", "completed_rounds"],
    "properties": {
        "username": {"type": "string"},
        "url": {**URL, "description": "Their public profile."},
        "member_since": {"type": "string", "format": "date-time"},
        "goal": {"type": "integer", "description": "Praise posts in a round."},
        "completed_rounds": {"type": "integer", "minimum": 0},
    },
}

SEARCH_RESULTS = {
    "type": "object",
    "required": ["query", "results"],
    "properties": {
        "query": {"type": "string"},
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Business"}},
    },
}

NEW_POST = {
    "type": "object",
    "additionalProperties": False,
    "description": (
        "The compose form as JSON, checked by the same rules. Name the business one way: "
        "`business` (a slug), `business_name` (its exact name) or `new_business`. "
        "A null field is the same as leaving it out."
    ),
    "required": ["body"],
    "properties": {
        "kind": {"enum": ["praise", "complaint", None], "default": "praise"},
        "business": {**NULLABLE_STRING, "description": "An existing business's slug."},
        "business_name": {
            **NULLABLE_STRING,
            "maxLength": 120,
            "description": "An existing business's exact name; otherwise a 422 suggests slugs.",
        },
        "new_business": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "description": "Add the business; one already here by name or website is a 422.",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "maxLength": 120},
                "website": {**NULLABLE_STRING, "maxLength": 300},
                "handle": {**NULLABLE_STRING, "maxLength": 320, "description": "@user@server"},
                "bluesky_handle": {
                    **NULLABLE_STRING,
                    "maxLength": 254,
                    "description": "brand.bsky.social",
                },
            },
        },
        "body": {"type": "string", "minLength": 1, "maxLength": BODY_MAX},
        "make_right": {
            **NULLABLE_STRING,
            "maxLength": 1000,
            "description": "Complaints: what would make it right.",
        },
        "rating": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
        "happened_on": {
            "type": ["string", "null"],
            "format": "date",
            "description": "Defaults to today; not in the future.",
        },
        "channel": {
            "enum": ["in_person", "phone", "online", "social", None],
            "default": "in_person",
        },
        "on_wall": {"type": ["boolean", "null"], "default": True, "description": "False: private."},
        "show_name": {
            "type": ["boolean", "null"],
            "default": True,
            "description": "False: shown as “a customer”.",
        },
        "to_mastodon": {
            "type": ["boolean", "null"],
            "default": True,
            "description": "Also post to your connected Mastodon account (ignored if none).",
        },
        "to_bluesky": {
            "type": ["boolean", "null"],
            "default": True,
            "description": "Also post to your connected Bluesky account (ignored if none).",
        },
        "visibility": {
            "enum": ["public", "unlisted", "private", "direct", None],
            "default": "public",
        },
        "content_warning": {**NULLABLE_STRING, "maxLength": 200},
        "fixes": {
            "type": ["integer", "null"],
            "description": "Praise: the id of your resolved complaint it follows up.",
        },
    },
}

HEADERS = {
    "X-RateLimit-Limit": {
        "description": "Requests allowed in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "When the window resets, in seconds since the Unix epoch.",
        "schema": {"type": "integer"},
    },
    "Retry-After": {
        "description": "Seconds until the window resets; after a 429, wait this long.",
        "schema": {"type": "integer"},
    },
}

ERROR_RESPONSES = {
    "400": problem_response("The request doesn't make sense: a bad parameter or cursor."),
    "401": problem_response(
        "No API token, or one that doesn't work.",
        **{"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    ),
    "404": problem_response("There's nothing public here."),
    "413": problem_response("The body is far too large."),
    "415": problem_response("The body isn't JSON."),
    "422": problem_response("Some fields need another look.", "ValidationProblem"),
    "429": problem_response("Too many requests: wait for Retry-After seconds."),
}


def operation(operation_id: str, summary: str, responses: dict, **extra) -> dict:
    """Describe one operation."""
    return {"operationId": operation_id, "summary": summary, "responses": responses, **extra}


PATHS = {
    "/openapi.json": {
        "get": operation(
            "getOpenAPI",
            "This document.",
            {
                "200": {
                    "description": "The OpenAPI document.",
                    "headers": RATE_LIMIT_HEADERS,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **errors(),
            },
        )
    },
    "/businesses": {
        "get": operation(
            "searchBusinesses",
            "Find businesses by name: prefix and word matches, best first.",
            {"200": json_response("The best matches.", "SearchResults"), **errors()},
            parameters=[
                param("q", "query", {"type": "string", "maxLength": 120}, "Part of the name."),
                param(
                    "limit",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": 25},
                    "How many results.",
                ),
            ],
        )
    },
    "/businesses/{slug}": {
        "get": operation(
            "getBusiness",
            "A business and its numbers.",
            {
                "200": with_links(
                    json_response("The business.", "BusinessDetail"),
                    ListBusinessPosts=link(
                        "listBusinessPosts", "Its posts.", slug="$response.body#/slug"
                    ),
                ),
                **errors(404),
            },
            parameters=[SLUG],
        )
    },
    "/businesses/{slug}/posts": {
        "get": operation(
            "listBusinessPosts",
            "A business's public praise or complaints, newest first.",
            {"200": json_response("One page of posts.", "PostPage"), **errors(404)},
            parameters=[
                SLUG,
                param(
                    "kind",
                    "query",
                    {"enum": ["praise", "complaint"], "default": "praise"},
                    "Which posts.",
                ),
                CURSOR,
                LIMIT,
            ],
        )
    },
    "/wall": {
        "get": operation(
            "listWall",
            "Everyone's public praise, newest first.",
            {"200": json_response("One page of posts.", "PostPage"), **errors()},
            parameters=[CURSOR, LIMIT],
        )
    },
    "/posts": {
        "post": operation(
            "createPost",
            "Post praise or a complaint as the token's owner; crossposted like the form.",
            {
                "201": with_links(
                    json_response(
                        "Posted.",
                        "OwnPost",
                        Location={"schema": {"type": "string", "format": "uri"}, "required": True},
                    ),
                    **POST_LINKS,
                ),
                "200": with_links(
                    json_response(
                        "Already posted with this Idempotency-Key: the post made the first time.",
                        "OwnPost",
                        Location={"schema": {"type": "string", "format": "uri"}, "required": True},
                    ),
                    **POST_LINKS,
                ),
                **errors(401, 413, 415, 422),
            },
            security=[{"bearerAuth": []}],
            parameters=[
                param(
                    "Idempotency-Key",
                    "header",
                    {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"},
                    "Any value unique to this post (a UUID, say); sending the same post again "
                    "with it returns the first post instead of making another.",
                )
            ],
            requestBody={
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/NewPost"}}
                },
            },
        )
    },
    "/posts/{post_id}": {
        "get": operation(
            "getPost",
            "One post. Anyone sees a public post; its author, with a token, a private one too.",
            {
                "200": with_links(
                    {
                        "description": "The post; for its author, also its privacy and delivery.",
                        "headers": RATE_LIMIT_HEADERS,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "anyOf": [
                                        {"$ref": "#/components/schemas/OwnPost"},
                                        {"$ref": "#/components/schemas/Post"},
                                    ]
                                }
                            }
                        },
                    },
                    GetPostBusiness=POST_LINKS["GetPostBusiness"],
                ),
                **errors(401, 404),
            },
            security=[{}, {"bearerAuth": []}],
            parameters=[param("post_id", "path", {"type": "integer"}, "The post's number.")],
        )
    },
    "/users/{username}/challenge": {
        "get": operation(
            "getChallenge",
            "What a person's public profile shows of their three-praise challenge.",
            {"200": json_response("Their challenge.", "Challenge"), **errors(404)},
            parameters=[
                param(
                    "username",
                    "path",
                    {"type": "string", "minLength": 1, "maxLength": 60},
                    "Their username.",
                )
            ],
        )
    },
}


def document(server_url: str) -> dict:
    """Return the OpenAPI document, with the server this app answers at."""
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Praisewall API",
            "version": "1.0.0",
            "description": (
                "Read businesses, their numbers and walls, posts and challenges; post praise or a "
                "complaint with a personal API token made on your settings page.\n\n"
                "Errors are `application/problem+json` (RFC 9457). Every call counts against a "
                "rate limit per address. Posts also count per person, all their tokens and the "
                "web form together. Limits are reported in `X-RateLimit-*` headers; over one, the "
                "answer is 429 with `Retry-After`."
            ),
        },
        "servers": [{"url": server_url.removesuffix("/openapi.json")}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        f"A personal API token (it starts with `{PREFIX}`), made on your settings "
                        "page and shown once. Session cookies are never accepted by the API."
                    ),
                }
            },
            "headers": HEADERS,
            "responses": ERROR_RESPONSES,
            "schemas": {
                "Problem": PROBLEM,
                "ValidationProblem": VALIDATION_PROBLEM,
                "Business": BUSINESS,
                "BusinessDetail": BUSINESS_DETAIL,
                "Numbers": NUMBERS,
                "Post": POST,
                "OwnPost": OWN_POST,
                "PostPage": POST_PAGE,
                "Challenge": CHALLENGE,
                "SearchResults": SEARCH_RESULTS,
                "NewPost": NEW_POST,
            },
        },
    }
