"""An embedded-mode executor: the run-event stream of `firehook dev` (or any gateway).

No broker: the executor reads Server-Sent Events with an API key, resumes with
Last-Event-ID after a disconnect, claims each attempt and reports the result with
`POST /api/runs/{id}/complete`. The handlers are the Kafka example's, unchanged.

    FIREHOOK_URL=http://127.0.0.1:8080 FIREHOOK_KEY=fhk_... COMPANY=... \\
        python -m examples.embedded_executor
"""

from __future__ import annotations

import os

from examples.kafka_executor import executor

if __name__ == "__main__":
    executor.run_stream(
        base_url=os.environ["FIREHOOK_URL"],
        api_key=os.environ["FIREHOOK_KEY"],
        company_id=os.environ["COMPANY"],
    )
