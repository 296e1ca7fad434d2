"""What the benchmark scripts share: waiting for a server they started to answer."""

import asyncio

import tornado.httpclient


async def wait_for_url(url, tries=400, pause=0.05):
    """Until `url` answers (any status); exits the script when it never does."""
    http = tornado.httpclient.AsyncHTTPClient()
    for _ in range(tries):
        try:
            await http.fetch(url, raise_error=False)
            return
        except OSError:
            await asyncio.sleep(pause)
    raise SystemExit("%s did not start" % url)
