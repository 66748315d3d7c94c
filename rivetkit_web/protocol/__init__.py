"""The sans-I/O core of rivetkit_web: everything about the wire, nothing about sockets.

* :mod:`.values` — Python values ⇄ RivetKit's JSON-compat value model;
* :mod:`.cbor` — a small pure-Python CBOR codec;
* :mod:`.messages` — the client protocol's messages;
* :mod:`.encoding` — the ``json``, ``cbor`` and ``bare`` encodings of messages and bodies;
* :mod:`.keys` — actor key validation and serialization;
* :mod:`.endpoint` — endpoint URL, namespace and token;
* :mod:`.gateway` — gateway URLs, headers, subprotocols, REST requests;
* :mod:`.retry` — which errors to retry, close-reason parsing, backoff.

No module here imports asyncio, a network library or a browser API, so all of it runs
(and is tested) the same on CPython and under Pyodide.
"""
