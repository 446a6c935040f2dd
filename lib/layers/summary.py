"""What a layer's run did: the summary a notebook shows, and the ledger record it starts from."""

from __future__ import annotations

import dataclasses
from typing import Any

from lib.contracts.params import PipelineParams
from lib.lake import ledger


@dataclasses.dataclass
class LayerSummary:
    """What a layer's run did, for the notebook to show."""

    run_id: str
    record: ledger.RunRecord
    details: dict[str, Any]

    @property
    def changed(self) -> bool:
        """Whether the run wrote a table besides its pipeline_runs row; one that found nothing new did not."""
        return bool(self.record.versions_written)


def start_record(params: PipelineParams, layer: str, notebook: str) -> ledger.RunRecord:
    run_id = params.run_id or ledger.new_run_id()
    return ledger.RunRecord(run_id=run_id, layer=layer, notebook=notebook, parameters=params.as_dict())
