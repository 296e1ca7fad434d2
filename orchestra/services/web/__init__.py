"""The web service: pages read by a static fetcher or by Chromium, safely."""
