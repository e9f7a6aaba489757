"""ndt7: the protocol, a server over Starlette WebSockets, result files and a client."""
