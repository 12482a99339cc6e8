"""Write executors of Firehook runs: register handlers, then serve them.

```python
from firehook.executor import Executor, Run

executor = Executor(concurrency=8)

@executor.handler(title="Nightly report")
async def nightly_report(run: Run) -> dict[str, int]:
    return {"rows": 42}

executor.run_kafka(bootstrap_servers="localhost:9092", group_id="reports")
```
"""

from firehook.executor.attempts import Outcome
from firehook.executor.executor import Executor
from firehook.executor.handlers import Selector
from firehook.executor.runs import Run

__all__ = ["Executor", "Outcome", "Run", "Selector"]
