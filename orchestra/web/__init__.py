"""The web layer: pages, the JSON API and the WebSocket, all thin adapters over services."""
