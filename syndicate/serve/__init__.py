"""Running for a long time: the daemon (`syndicate run`), its feed server and its log.

daemon     watch content/ and config/, build, publish on time, retry; /healthz
server     the output folder over HTTP (uvicorn, our ASGI app)
log        one event per line, for people or as JSON
"""
