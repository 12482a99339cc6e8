"""An HTTP executor: a routine with `dispatch: {"type": "http", "url": ...}` posts each run
here, signed as a Standard Webhook with the routine's `dispatchSigningSecret` (shown once,
when the routine is created). The app verifies the signature, runs the handler and
answers the result inline. The handlers are the Kafka example's, unchanged.

    DISPATCH_SECRET=whsec_... uvicorn examples.http_executor:app --port 9000
"""

from __future__ import annotations

import os

from examples.kafka_executor import executor

app = executor.asgi_app(os.environ["DISPATCH_SECRET"], path="/")
