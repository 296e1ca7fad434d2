"""What the web service's parts hand each other: a raw HTTP response, and a read page."""

import dataclasses


@dataclasses.dataclass
class RawResponse:
    """One HTTP response as the static fetcher read it (body capped, read in full)."""
    url: str                      # the URL asked for
    final_url: str                # after the redirects followed (url when none)
    status_code: int
    headers: dict                 # lower-case name -> value
    body: bytes
    redirects: list = dataclasses.field(default_factory=list)  # the URLs passed through

    @property
    def content_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclasses.dataclass
class Rendered:
    """What the browser made of a URL (and of the scripted steps run on it)."""
    url: str
    final_url: str
    status_code: int | None       # of the main document; None when the browser did not say
    html: str                     # the DOM as it stood after the steps
    headers: dict = dataclasses.field(default_factory=dict)  # the main document's, lower-case
    steps: list = dataclasses.field(default_factory=list)    # one outcome per action
    screenshot: bytes | None = None                          # PNG, when asked for
    pdf: bytes | None = None                                 # when asked for
    shots: list = dataclasses.field(default_factory=list)    # PNGs of `screenshot` steps


@dataclasses.dataclass
class Page:
    """A page read by either renderer, as Markdown with what is known about it."""
    url: str
    final_url: str
    status_code: int | None
    renderer: str                 # "static" or "browser"
    title: str | None
    markdown: str
    links: list = dataclasses.field(default_factory=list)     # [{"url", "text"}], absolute
    metadata: dict = dataclasses.field(default_factory=dict)  # title, author, date, language,
    #                                   canonicalUrl, description, siteName, contentType
    html: str | None = None       # the HTML it was read from (None for PDF and text)
    steps: list = dataclasses.field(default_factory=list)
    screenshot: bytes | None = None
    pdf: bytes | None = None
    shots: list = dataclasses.field(default_factory=list)
