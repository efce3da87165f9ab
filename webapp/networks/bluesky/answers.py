"""Reading a Bluesky server's answers as they come: capped in size, and by a deadline.

A PDS or authorization server is whatever the person typed, so its answers are read the way
webapp/infra/http.py reads any document from elsewhere: streamed, at most MAX_ANSWER bytes,
all of it by FETCH_DEADLINE, however slowly it trickles in.
"""

from __future__ import annotations

import time

import requests
import urllib3

from webapp.infra.http import fetch_deadline, read_body, request_timeout

MAX_ANSWER = 1024 * 1024  # bytes: far more than any token, session or XRPC answer we read


class TooLarge(requests.RequestException):
    """A server answered with more than we read."""


def request(session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
    """Send a request and read the whole answer by the deadline; the response holds its body.

    :raise requests.RequestException: if there is no answer, it is too large, or too slow.
    """
    deadline = time.monotonic() + fetch_deadline()
    response = session.request(
        method, url, stream=True, timeout=request_timeout(), allow_redirects=False, **kwargs
    )
    response.deadline = deadline  # type: ignore[attr-defined]
    with response:
        try:
            body = read_body(response, MAX_ANSWER)
        except urllib3.exceptions.ReadTimeoutError as error:
            raise requests.ReadTimeout(str(error), response=response) from None
        except urllib3.exceptions.HTTPError as error:
            raise requests.ConnectionError(str(error), response=response) from None
    if len(body) > MAX_ANSWER:
        raise TooLarge(f"The server's answer is larger than {MAX_ANSWER} bytes.", response=response)
    # Read already: .content, .text and .json() use it, and nothing is read twice.
    response._content = body
    return response
