"""Live collaboration on a flow (SPEC §15), as pure libraries with no I/O.

- ``yprotocol``: the y-websocket wire protocol (sync steps, updates, awareness) on bytes;
- ``ws_frames``: server WebSocket frames, encoded once for many sockets;
- ``replica``: the box's copy of a flow's Yjs document (pycrdt, the Python binding of Yrs).
  Imported lazily (see ``services/live_docs.py``): pycrdt costs ~90 ms to load, which a box
  that nobody edits live should not pay at start-up.

The services that use them (rooms, presence, persistence) are in ``scaiflow_box/services``.
"""
