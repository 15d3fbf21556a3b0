"""Run the service with uvicorn: ``python -m service [--host H] [--port P] [--model-dir DIR] [--skills-dir DIR]``.

Every flag can also be set by an environment variable (``ELMOL_HOST``, ``ELMOL_PORT``,
``ELMOL_MODEL_DIR``, ``ELMOL_WORKERS``, ``ELMOL_THREADS``, ...); a flag wins over the variable.
"""

from __future__ import annotations

import argparse
import logging.config
import os
import signal
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from service import logs
from service.drain import DrainingServer
from service.settings import Settings

log = logging.getLogger("service")


def main(argv: list[str] | None = None) -> None:
    defaults = Settings()
    p = argparse.ArgumentParser(prog="python -m service", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=defaults.host)
    p.add_argument("--port", type=int, default=defaults.port)
    p.add_argument("--model-dir", default=str(defaults.model_dir))
    p.add_argument("--skills-dir", default=str(defaults.skills_dir or ""),
                   help="serve each skill (elmol-nlu skill train's output) in this directory beside the model")
    p.add_argument("--workers", type=int, default=defaults.workers)
    p.add_argument("--threads", type=int, default=defaults.threads, help="onnxruntime threads per worker")
    p.add_argument("--precision", default=defaults.precision, choices=["auto", "fp32", "int8"],
                   help="int8 only if it passed its accuracy gate; auto serves int8 when it did")
    p.add_argument("--log-level", default=defaults.log_level)
    args = p.parse_args(argv)
    # Workers are separate processes that build the app from the environment, so pass settings there.
    os.environ.update({"ELMOL_HOST": args.host, "ELMOL_PORT": str(args.port), "ELMOL_MODEL_DIR": args.model_dir,
                       "ELMOL_WORKERS": str(args.workers), "ELMOL_THREADS": str(args.threads),
                       "ELMOL_PRECISION": args.precision})
    if args.skills_dir:
        os.environ["ELMOL_SKILLS_DIR"] = args.skills_dir
    settings = Settings()  # fail here, with pydantic's message, on a bad value
    log_config = logs.logging_config(args.log_level, settings.log_format)
    logging.config.dictConfig(log_config)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it; a clean stop should exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    options = dict(factory=True, host=args.host, port=args.port, workers=args.workers, log_level=args.log_level,
                   access_log=False, log_config=log_config, limit_concurrency=settings.max_connections,
                   timeout_keep_alive=settings.keep_alive_s, http="service.http_protocol:ReceivedAtHttpToolsProtocol")
    if args.workers > 1:  # uvicorn's supervisor makes each worker's server: no drain there
        if settings.drain_s > 0:
            log.warning("ELMOL_DRAIN_S=%g is ignored with %d workers: it needs one", settings.drain_s, args.workers)
        uvicorn.run("service.app:create_app", **options)
        return
    server = DrainingServer(uvicorn.Config("service.app:create_app", **options), settings.drain_s)
    server.run()
    if not server.started:  # as uvicorn.run: the app failed to start
        sys.exit(STARTUP_FAILURE)

if __name__ == "__main__":
    main()
